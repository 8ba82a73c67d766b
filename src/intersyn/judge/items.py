"""What the judge scores: one turn of an answer, with its earlier turns as context.

Items come from anything :func:`intersyn.data.dataset.open_dataset` reads (a run directory,
a finalised intersyn Parquet dataset, a Parquet file in the released InterSyn Hub layout) or
from an *answers JSONL* — the public SynJudge input, one turn per line::

    {"id": "q17", "question": "...", "answer": "...", "image": "q17.png"}
    {"id": "q17", "turn": 1, "question": "...", "answer": "...", "image": null}

``image`` is a path relative to ``--image-dir`` (default: the JSONL file's folder); ``turn``
(default 0) numbers the turns of a dialogue; an optional ``caption`` describes the image for
a text-only judge. Images are read when an item is judged, not when it is listed, so memory
does not grow with the input.

(The answers-JSONL reader lives here because it is the judge's own input format; the dataset
readers are the data layer's.)
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intersyn.data.store import safe_join
from intersyn.errors import InputError, IntersynError
from intersyn.schema import Sample, TopicPath

#: The reason recorded when an answer simply has no image (not a problem to report).
NO_IMAGE_GIVEN = "the answer has no image"


@dataclass(frozen=True)
class ImageLoad:
    """An image read for judging: its bytes, or None and why (missing, corrupt, refused)."""

    data: bytes | None
    #: Why there is no image (None when the answer had one and it loaded).
    reason: str | None = None


@dataclass
class HistoryTurn:
    question: str
    answer: str
    image_note: str


@dataclass
class JudgeItem:
    """One turn to judge. ``load_image`` is called once, when the turn is judged."""

    sample_id: str
    turn: int
    question: str
    answer: str
    caption: str | None
    load_image: Callable[[], ImageLoad]
    history: list[HistoryTurn] = field(default_factory=list)
    topic: TopicPath | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.sample_id, self.turn)


def iter_items(path: str | Path, *, image_dir: str | Path | None = None) -> Iterator[JudgeItem]:
    """Every turn of the input, in order. Answers JSONL by suffix; else a dataset."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: input not found (a dataset directory, a .parquet, or a .jsonl)")
    if p.is_dir() and _answers_folder(p):
        p = p / "answers.jsonl"  # the folder `intersyn export ... answers` writes
    if p.is_file() and p.suffix.lower() in (".jsonl", ".ndjson"):
        yield from _jsonl_items(p, Path(image_dir) if image_dir else p.parent)
    else:
        yield from _dataset_items(p)


# -- answers JSONL ---------------------------------------------------------------------------
def _answers_folder(p: Path) -> bool:
    if not (p / "answers.jsonl").is_file() or (p / "samples").is_dir():
        return False
    return not any(p.glob("*.parquet")) and not (p / "data").is_dir()


@dataclass
class _Row:
    line: int
    sample_id: str
    turn: int
    question: str
    answer: str
    image: str | None
    caption: str | None


def read_answers_jsonl(path: Path) -> list[list[_Row]]:
    """Rows grouped by id (in first-seen order), each group sorted by turn; errors name lines."""
    groups: dict[str, dict[int, _Row]] = {}
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None
    with fh:
        n = 0
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            row = _parse_row(path, n, raw)
            turns = groups.setdefault(row.sample_id, {})
            if row.turn in turns:
                raise InputError(
                    f"{path}:{n}: id {row.sample_id!r} turn {row.turn} already appeared on line "
                    f"{turns[row.turn].line}; give each turn of a dialogue its own `turn` number"
                )
            turns[row.turn] = row
    if not groups:
        raise InputError(f"{path}: no answers in the file (it is empty)")
    return [[t[k] for k in sorted(t)] for t in groups.values()]


def _parse_row(path: Path, n: int, raw: str) -> _Row:
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{n}: not valid JSON ({e.msg}, column {e.colno})") from None
    if not isinstance(rec, dict):
        raise InputError(f"{path}:{n}: each line must be a JSON object with id, question, answer")
    sid = rec.get("id")
    if isinstance(sid, int) and not isinstance(sid, bool):
        sid = str(sid)
    if not isinstance(sid, str) or not sid:
        raise InputError(f"{path}:{n}: missing or empty `id`")
    turn = rec.get("turn", 0)
    if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
        raise InputError(f"{path}:{n}: id {sid!r}: `turn` must be an integer >= 0, got {turn!r}")
    fields: dict[str, str | None] = {}
    for name in ("question", "answer", "image", "caption"):
        v = rec.get(name)
        if v is not None and not isinstance(v, str):
            raise InputError(f"{path}:{n}: id {sid!r}: `{name}` must be a string or null")
        fields[name] = v
    if fields["question"] is None:
        raise InputError(f"{path}:{n}: id {sid!r}: missing `question`")
    return _Row(
        line=n,
        sample_id=sid,
        turn=turn,
        question=fields["question"] or "",
        answer=fields["answer"] or "",
        image=fields["image"] or None,
        caption=fields["caption"],
    )


def _jsonl_items(path: Path, image_dir: Path) -> Iterator[JudgeItem]:
    for rows in read_answers_jsonl(path):
        history: list[HistoryTurn] = []
        for row in rows:
            yield JudgeItem(
                sample_id=row.sample_id,
                turn=row.turn,
                question=row.question,
                answer=row.answer,
                caption=row.caption,
                load_image=_file_loader(image_dir, row.image, f"{path}:{row.line}"),
                history=list(history),
            )
            note = row.caption or ("an image" if row.image else "none")
            history.append(HistoryTurn(row.question, row.answer, note))


def _file_loader(image_dir: Path, rel: str | None, where: str) -> Callable[[], ImageLoad]:
    def load() -> ImageLoad:
        if rel is None:
            return ImageLoad(None, NO_IMAGE_GIVEN)
        try:
            full = safe_join(image_dir, rel)
        except IntersynError as e:
            return ImageLoad(None, f"image path refused ({where}): {e}")
        try:
            data = full.read_bytes()
        except OSError:
            return ImageLoad(None, f"image file {rel!r} not found under {image_dir} ({where})")
        return checked_image(data, f"{rel!r} ({where})")

    return load


def checked_image(data: bytes | None, what: str) -> ImageLoad:
    """Verify that ``data`` decodes as an image; a corrupt file becomes "no image" with a reason."""
    if not data:
        return ImageLoad(None, f"image {what} is empty")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            fmt = im.format
            if fmt not in ("PNG", "JPEG", "WEBP", "GIF"):
                buf = io.BytesIO()
                im.convert("RGB").save(buf, format="PNG")
                data = buf.getvalue()
    except Exception as e:  # PIL raises many kinds for broken files
        detail = "not a readable image file" if "cannot identify" in str(e) else str(e)
        return ImageLoad(None, f"image {what} is corrupt ({detail})")
    return ImageLoad(data, None)


# -- datasets --------------------------------------------------------------------------------
def _dataset_items(path: Path) -> Iterator[JudgeItem]:
    try:
        from intersyn.data.dataset import open_dataset
    except ImportError as e:  # the data layer ships open_dataset (issue 2)
        raise InputError(
            f"{path}: reading datasets needs intersyn.data.dataset ({e}); "
            "give an answers .jsonl instead"
        ) from None
    ds = open_dataset(path)
    for sample in ds.samples():
        yield from sample_items(sample, ds)


def sample_items(sample: Sample, ds: Any) -> Iterator[JudgeItem]:
    """The turns of one dataset sample as judge items (earlier turns as history)."""
    history: list[HistoryTurn] = []
    for t in sample.turns:
        yield JudgeItem(
            sample_id=sample.id,
            turn=t.index,
            question=t.question,
            answer=t.answer,
            caption=t.caption or None,
            load_image=_dataset_loader(ds, sample, t.index, t.image is not None),
            history=list(history),
            topic=sample.topic,
        )
        history.append(HistoryTurn(t.question, t.answer, t.caption or "none"))


def _dataset_loader(ds: Any, sample: Sample, turn: int, declared: bool) -> Callable[[], ImageLoad]:
    def load() -> ImageLoad:
        what = f"of sample {sample.id!r} turn {turn}"
        try:
            data = ds.image_bytes(sample, turn)
        except (IntersynError, OSError) as e:
            return ImageLoad(None, f"image {what} cannot be read: {e}")
        if data is None:
            reason = f"image {what} is missing" if declared else NO_IMAGE_GIVEN
            return ImageLoad(None, reason)
        return checked_image(data, what)

    return load
