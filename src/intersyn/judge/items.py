"""What the judge scores: one turn of an answer, with its earlier turns as context.

Items come from anything :func:`intersyn.data.dataset.open_dataset` reads: a run directory,
a finalised intersyn Parquet dataset, a Parquet file in the released InterSyn Hub layout, or
an *answers JSONL* — the public SynJudge input, one turn per line::

    {"id": "q17", "question": "...", "answer": "...", "image": "q17.png"}
    {"id": "q17", "turn": 1, "question": "...", "answer": "...", "image": null}

``image`` is a path relative to ``--image-dir`` (default: the JSONL file's folder); ``turn``
(default 0) numbers the turns of a dialogue; an optional ``caption`` describes the image for
a text-only judge. The data layer reads the file (:mod:`intersyn.data.formats.answers`).
Images are read when an item is judged, not when it is listed, so memory does not grow with
the input; a missing, corrupt or refused image makes that turn "no image", with the reason.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from intersyn.data.dataset import NO_IMAGE_GIVEN, Dataset, ImageLoad, open_dataset
from intersyn.data.formats.answers import AnswersDataset
from intersyn.data.images import ImageProblem, opened_image
from intersyn.errors import InputError
from intersyn.schema import Sample, TopicPath

__all__ = [
    "NO_IMAGE_GIVEN",
    "HistoryTurn",
    "ImageLoad",
    "JudgeItem",
    "checked_image",
    "iter_items",
    "sample_items",
]


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
    """Every turn of the input, in order: an answers JSONL (or the folder an answers export
    writes) or any dataset :func:`~intersyn.data.dataset.open_dataset` reads."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: input not found (a dataset directory, a .parquet, or a .jsonl)")
    ds = open_dataset(p, image_root=image_dir)
    if isinstance(ds, AnswersDataset) and len(ds.file) == 0 and not ds.file.problems():
        raise InputError(f"{ds.file.path}: no answers in the file (it is empty)")
    for rec in ds.records():
        if rec.sample is not None:
            yield from sample_items(rec.sample, ds)
        elif not rec.warning:
            raise InputError(
                f"{rec.where}: {rec.error}. Fix or remove the record and run again (what was "
                "judged is kept); `intersyn validate` lists every problem."
            )


def checked_image(data: bytes | None, what: str) -> ImageLoad:
    """Verify that ``data`` decodes as an image; a corrupt file becomes "no image" with a reason."""
    if not data:
        return ImageLoad(None, f"image {what} is empty")
    try:
        with opened_image(data, f"image {what}") as im:  # decodable: as validate says
            if im.format not in ("PNG", "JPEG", "WEBP", "GIF"):
                buf = io.BytesIO()
                im.convert("RGB").save(buf, format="PNG")
                data = buf.getvalue()
    except ImageProblem as e:
        return ImageLoad(None, str(e))
    return ImageLoad(data, None)


def sample_items(sample: Sample, ds: Dataset) -> Iterator[JudgeItem]:
    """The turns of one dataset sample as judge items (earlier turns as history)."""
    history: list[HistoryTurn] = []
    for t in sample.turns:
        yield JudgeItem(
            sample_id=sample.id,
            turn=t.index,
            question=t.question,
            answer=t.answer,
            caption=t.caption or None,
            load_image=_loader(ds, sample, t.index),
            history=list(history),
            topic=None if isinstance(ds, AnswersDataset) else sample.topic,
        )
        note = t.caption or ("an image" if t.image is not None else "none")
        history.append(HistoryTurn(t.question, t.answer, note))


def _loader(ds: Dataset, sample: Sample, turn: int) -> Callable[[], ImageLoad]:
    def load() -> ImageLoad:
        got = ds.image_or_reason(sample, turn)
        if got.data is None:
            return got
        ref = sample.turns[turn].image
        what = f"{ref.path!r}" if ref is not None else f"of sample {sample.id!r} turn {turn}"
        return checked_image(got.data, what)

    return load
