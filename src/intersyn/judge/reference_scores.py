"""Import the reference judge scripts' score lines as an intersyn judgement set.

The public SynJudge scripts write one JSON line per judged item: the answers line they read
(``id``, ``question``, ``answer``, ``image``) plus ``labels``, four integers in the order TCC,
ICC, IQ, ITS (their prompt's Text Response Quality, Image Response Quality, Image Aesthetic
Quality, Text-Image Synergy), and ``[-1, -1, -1, -1]`` when their parser found no scores::

    {"id": "q17", "question": "...", "answer": "...", "image": "q17.png", "labels": [4, 3, 5, 2]}

:func:`import_scores` turns such a file into a judgement set that ``summary``, ``agree``,
``report`` and ``leaderboard`` read like one made by ``intersyn judge``:

* a ``-1`` among the labels, ``labels`` missing or ``null``, or a ``null`` label → the turn is
  ``unparsed``: counted, never turned into numbers, left out of every mean;
* a line that is not a JSON object, has no ``id``, gives other than four labels, or a label
  that is not a whole number from -1 to 5, or repeats an item → an error naming every such
  line, and nothing is written;
* every ``(id, turn)`` (``turn`` defaults to 0) must be an item of the dataset the scores
  were made for, with the same question when the line gives one; any that is not is an error
  naming the lines.

The set is written to a temporary folder beside its place and renamed when complete, so an
interrupted import leaves no half set; an existing set of the same identity is replaced only
with ``overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intersyn.data.formats._io import Problem, read_jsonl
from intersyn.errors import InputError
from intersyn.judge.items import iter_items
from intersyn.judge.store import SETS_DIR, JudgementStore, SetInfo
from intersyn.schema import DIMENSIONS, Judgement, TopicPath

#: What the reference scripts write when their parser found no scores.
FAILED = -1
#: Problems shown in one error message (the count of the rest follows).
SHOWN = 20
UNPARSED_REASON = "the reference judge wrote -1: its reply could not be parsed"


@dataclass(frozen=True)
class ScoreLine:
    """One line of a reference score file: its item, and its scores or why there are none."""

    where: str
    sample_id: str
    turn: int
    scores: dict[str, int] | None
    reason: str | None
    question: str | None
    raw: str


@dataclass
class Imported:
    """What :func:`import_scores` wrote: the set folder and its counts."""

    path: Path
    ok: int
    unparsed: int
    not_scored: int
    #: Each unparsed line's reason, counted.
    reasons: Counter[str]


def read_score_lines(path: str | Path) -> list[ScoreLine]:
    """Every line of a reference score file, checked; all problems at once in one error."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: score file not found (one JSON line per item, with `labels`)")
    lines: list[ScoreLine] = []
    problems: list[str] = []
    first: dict[tuple[str, int], str] = {}
    for where, rec in read_jsonl(p):
        if isinstance(rec, Problem):
            problems.append(str(rec))
            continue
        try:
            line = _score_line(where, rec)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        key = (line.sample_id, line.turn)
        if key in first:
            problems.append(
                f"{where}: id {line.sample_id!r} turn {line.turn} was scored already at "
                f"{first[key]}; keep one line per item"
            )
            continue
        first[key] = where
        lines.append(line)
    if problems:
        raise InputError(_listing(problems, "score lines cannot be read", p))
    if not lines:
        raise InputError(f"{p}: holds no score lines")
    return lines


def _score_line(where: str, rec: dict[str, Any]) -> ScoreLine:
    sid = rec.get("id")
    if isinstance(sid, bool) or not isinstance(sid, str | int) or str(sid).strip() == "":
        raise ValueError(f"no `id` (got {sid!r}); each line names the item it scores")
    turn = rec.get("turn", 0)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 0:
        raise ValueError(f"`turn` must be a whole number from 0, got {turn!r}")
    labels = rec.get("labels")
    question = rec.get("question") if isinstance(rec.get("question"), str) else None

    def line(scores: dict[str, int] | None, reason: str | None) -> ScoreLine:
        return ScoreLine(where, str(sid), turn, scores, reason, question, json.dumps(labels))

    if labels is None:
        return line(None, "no labels on the line")
    if not isinstance(labels, list):
        raise ValueError(f"`labels` must be a list of four integers, got {labels!r}")
    if len(labels) != len(DIMENSIONS):
        raise ValueError(
            f"{len(labels)} labels {labels!r}; the reference judge writes four (TCC, ICC, IQ, ITS)"
        )
    for i, v in enumerate(labels, start=1):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or not FAILED <= v <= 5:
            raise ValueError(f"label {i} is {v!r}, not a whole number from 0 to 5 (or -1)")
    if FAILED in labels or None in labels:
        reason = UNPARSED_REASON if FAILED in labels else "a label is null"
        if reason == UNPARSED_REASON and labels != [FAILED] * len(DIMENSIONS):
            reason += f" (labels {labels})"
        return line(None, reason)
    return line(dict(zip(DIMENSIONS, labels, strict=True)), None)


def _listing(problems: list[str], what: str, p: Path) -> str:
    more = f"\n  … and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    shown = "\n  ".join(problems[:SHOWN])
    return f"{p}: {len(problems)} {what}; nothing was written:\n  {shown}{more}"


def match_dataset(
    lines: list[ScoreLine],
    dataset: str | Path,
    image_dir: str | Path | None = None,
    *,
    source: str | Path = "the score file",
) -> tuple[dict[tuple[str, int], TopicPath | None], int]:
    """Check every line's item against the dataset: (topic per item, items not scored)."""
    items: dict[tuple[str, int], tuple[str, TopicPath | None]] = {}
    for item in iter_items(dataset, image_dir=image_dir):
        items.setdefault(item.key, (item.question, item.topic))
    problems: list[str] = []
    for line in lines:
        found = items.get((line.sample_id, line.turn))
        if found is None:
            problems.append(
                f"{line.where}: id {line.sample_id!r} turn {line.turn} is not an item of {dataset}"
            )
        elif line.question is not None and _same(line.question) != _same(found[0]):
            problems.append(
                f"{line.where}: id {line.sample_id!r} is in {dataset} with another question "
                f"({_short(found[0])} there, {_short(line.question)} here)"
            )
    if problems:
        raise InputError(
            _listing(problems, "score lines do not match the dataset", Path(source))
            + "\nGive --dataset the answers file or dataset the scores were made from "
            "(the same ids, turns and questions)."
        )
    scored = {(x.sample_id, x.turn) for x in lines}
    return {k: v[1] for k, v in items.items() if k in scored}, len(items) - len(scored)


def _same(text: str) -> str:
    return " ".join(text.split())


def _short(text: str) -> str:
    t = _same(text)
    return repr(t if len(t) <= 50 else t[:47] + "...")


def import_scores(
    score_file: str | Path,
    dataset: str | Path,
    out_dir: str | Path,
    *,
    judge_model: str | None = None,
    rubric_label: str = "reference-prompt@1",
    mode: str = "vision",
    image_dir: str | Path | None = None,
    overwrite: bool = False,
) -> Imported:
    """Read, check and write a reference score file as a judgement set under ``out_dir``."""
    src = Path(score_file)
    lines = read_score_lines(src)
    topics, not_scored = match_dataset(lines, dataset, image_dir, source=src)
    info = SetInfo(
        judge_model=judge_model or f"reference:{src.stem}",
        rubric=rubric_label,
        mode=mode,
        input=str(dataset),
        imported_from=str(src),
    )
    out = Path(out_dir)
    final = out / SETS_DIR / info.key
    for given in (src, Path(dataset)):
        if given.resolve().is_relative_to(final.resolve()):
            raise InputError(f"{given} lies inside {final}, which the import writes; move it")
    if final.exists() and not overwrite:
        raise InputError(
            f"{final}: this judgement set exists already; pass --overwrite to import again, "
            "or choose another --out"
        )
    (out / SETS_DIR).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=out / SETS_DIR))
    reasons: Counter[str] = Counter()
    try:
        store = JudgementStore(staging, info)
        try:
            for line in lines:
                store.append(_judgement(line, info), topics.get((line.sample_id, line.turn)))
                if line.reason:
                    reasons[line.reason] += 1
        finally:
            store.close()
        if final.exists():
            shutil.rmtree(final)  # our own earlier import of this set (--overwrite)
        os.replace(staging / SETS_DIR / info.key, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    ok = sum(1 for x in lines if x.scores is not None)
    return Imported(final, ok, len(lines) - ok, not_scored, reasons)


def _judgement(line: ScoreLine, info: SetInfo) -> Judgement:
    fields: dict[str, Any] = {
        "sample_id": line.sample_id,
        "turn": line.turn,
        "judge_model": info.judge_model,
        "rubric_version": info.rubric,
        "mode": info.mode,
        "raw": [line.raw],
    }
    if line.scores is None:
        return Judgement.model_validate({**fields, "status": "unparsed", "error": line.reason})
    return Judgement.model_validate({**fields, **line.scores})
