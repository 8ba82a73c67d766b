"""Where the items to rate come from: every turn of every sample of the input.

The input is read by the data layer, never a second reader here:

- a dataset — a run directory, a finalised intersyn Parquet dataset, a Hub-layout Parquet —
  through :func:`intersyn.data.dataset.open_dataset`;
- an answers JSONL (one turn per line: ``id``, ``turn``, ``question``, ``answer``, ``image``
  path) through :func:`intersyn.data.formats.answers.read`;
- a judge output directory, standing for the dataset it judged (:func:`resolve_input`).

A bad record stops set-up with an error naming the file, line and sample: nothing is half
imported (set-up resumes where it stopped once the input is fixed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from intersyn.annotate.db import NewItem
from intersyn.data.dataset import open_dataset
from intersyn.data.formats import ImportedSample, Problem, answers
from intersyn.data.images import decode_image
from intersyn.errors import InputError


def resolve_input(path: Path) -> Path:
    """The input to read: a judge output directory (``intersyn judge --out``) stands for the
    dataset it judged, as recorded in its judgement sets; anything else is itself.

    Judgements are never shown to annotators (they would anchor their scores).
    """
    path = Path(path)
    if not path.is_dir() or (path / "samples").is_dir() or any(path.glob("data/*.parquet")):
        return path
    try:
        from intersyn.judge.store import find_sets
    except ImportError:
        return path
    sets = find_sets(path)
    if not sets:
        return path
    found: set[Path] = set()
    for folder in sets:
        try:
            recorded = json.loads((folder / "set.json").read_text(encoding="utf-8")).get("input")
        except (OSError, ValueError):
            recorded = None
        if recorded:
            candidate = Path(recorded)
            if not candidate.is_absolute() and not candidate.exists():
                candidate = path.parent / candidate
            found.add(candidate.resolve())
    if len(found) != 1 or not next(iter(found)).exists():
        listed = ", ".join(str(f) for f in sorted(found)) or "none recorded"
        raise InputError(
            f"{path} is a judge output; the dataset it judged ({listed}) cannot be found"
            " unambiguously: pass the dataset itself as INPUT"
        )
    return next(iter(found))


def is_answers_jsonl(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson")


def read_items(path: Path, *, limit: int | None = None) -> Iterator[NewItem]:
    """Every turn of the first ``limit`` samples of the input at ``path``, images included."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"{path}: no such input; pass a run directory, a dataset, a .parquet or an answers"
            " .jsonl"
        )
    if is_answers_jsonl(path):
        yield from _answers_items(path, limit)
    else:
        yield from _dataset_items(path, limit)


def _dataset_items(path: Path, limit: int | None) -> Iterator[NewItem]:
    ds = open_dataset(path)
    for sample in islice(ds.samples(), limit):
        for pos, turn in enumerate(sample.turns):
            ref = turn.image
            image = ds.image_bytes(sample, pos)
            if image is not None:  # annotators' browsers get only decodable images
                decode_image(image, f"sample {sample.id}, turn {pos}")
            yield NewItem(
                sample_id=sample.id,
                turn=turn.index,
                question=turn.question,
                answer=turn.answer,
                caption=turn.caption,
                image=image,
                preview=bool(ref.preview) if ref is not None else False,
                topic=str(sample.topic),
            )


def _answers_items(path: Path, limit: int | None) -> Iterator[NewItem]:
    def samples() -> Iterator[ImportedSample]:
        for rec in answers.read(path):
            if isinstance(rec, Problem):
                raise InputError(f"{rec}; fix the record and start again (set-up resumes)")
            yield rec

    for sample in islice(samples(), limit):
        for t, turn in enumerate(sample.turns):
            yield NewItem(
                sample_id=sample.id,
                turn=t,
                question=turn.question,
                answer=turn.answer,
                caption=turn.caption,
                image=turn.image,
                topic=sample.topic or "",
            )
