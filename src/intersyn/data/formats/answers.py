"""The answers JSONL — one record per turn — and its one reader (judge, import, datasets).

::

    {"id": "s1", "turn": 0, "question": "...", "answer": "...", "image": "images/s1_0.png",
     "caption": "..."}

- ``id`` is the sample id; a multi-turn sample has one record per turn with ``turn`` =
  0, 1, … (``turn`` may be left out for single-turn answers: it is then 0). Records of
  one sample need not be adjacent.
- ``question`` is required (it may be empty); ``answer`` and ``caption`` are optional text.
- ``image`` is a path relative to the JSONL's folder (or to ``--image-root`` /
  ``--image-dir``), or null / empty when the answer has no image. Absolute paths and paths
  out of that folder are refused.

One reader, :class:`AnswersFile`, serves everyone:

- :func:`intersyn.data.dataset.open_dataset` opens an answers JSONL as an
  :class:`AnswersDataset`, so ``stats``, ``validate``, ``view``, ``annotate`` and ``judge``
  take it like any dataset;
- the judge reads each turn's image leniently (:meth:`AnswerTurn.load_image`): a missing,
  corrupt or refused image is that turn's "no image, because …", never the end of the run;
- ``intersyn import`` reads them strictly (:func:`read`): a bad image is a bad record,
  stopped on or skipped (``--on-error``).

The reader is lazy: a first pass indexes (id, turn) → line offset, then each sample's lines
are read when it is reached, and images only when asked for — memory holds the index, never
the file's text or images. Every problem names the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intersyn.data.dataset import (
    NO_IMAGE_GIVEN,
    UNKNOWN,
    Dataset,
    ImageLoad,
    Record,
)
from intersyn.data.formats._io import (
    ImportedSample,
    ImportedTurn,
    Problem,
    decode_line,
    image_name,
)
from intersyn.data.store import image_info, safe_join
from intersyn.errors import InputError, UnsafePathError
from intersyn.schema import ImageRef, Sample, TopicPath, Turn

#: File suffixes read as answers JSONL.
SUFFIXES = (".jsonl", ".ndjson")


# -- the reader ------------------------------------------------------------------------------
@dataclass
class AnswerTurn:
    """One turn of an answers JSONL; its image is read only by :meth:`load_image`."""

    sample_id: str
    turn: int
    #: ``file:line`` of the record.
    where: str
    question: str
    answer: str
    caption: str | None
    #: The image path as written (relative to :attr:`root`), or None when there is none.
    image: str | None
    root: Path

    def load_image(self) -> ImageLoad:
        """The image's bytes, or None and why (absent, missing, refused path, not an image)."""
        return load_image(self.root, self.image, self.where)


@dataclass
class AnswerSample:
    """The turns of one id, in turn order."""

    id: str
    #: ``file:first line (sample id)``.
    where: str
    turns: list[AnswerTurn]

    def to_sample(self) -> Sample:
        """The intersyn Sample (topic unknown; images as paths relative to the root)."""
        return Sample(
            id=self.id,
            topic=TopicPath(domain=UNKNOWN, category=UNKNOWN, topic=UNKNOWN),
            turns=[
                Turn(
                    index=t.turn,
                    question=t.question,
                    answer=t.answer,
                    caption=t.caption or "",
                    image=ImageRef(path=t.image) if t.image else None,
                )
                for t in self.turns
            ],
        )


def load_image(root: Path, rel: str | None, where: str) -> ImageLoad:
    """Read the image ``rel`` under ``root`` for the record at ``where``, leniently."""
    if not rel:
        return ImageLoad(None, NO_IMAGE_GIVEN)
    try:
        path = safe_join(root, rel)
    except UnsafePathError as e:
        return ImageLoad(None, f"image path refused ({where}): {e}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ImageLoad(
            None, f"image file {rel!r} not found under {root}: the file is missing ({where})"
        )
    except OSError as e:
        return ImageLoad(None, f"image file {rel!r} cannot be read ({e.strerror}) ({where})")
    try:
        image_info(data, where=f"image {rel!r} ({where})")
    except InputError as e:
        return ImageLoad(None, str(e))
    return ImageLoad(data)


def answers_file(path: Path) -> Path | None:
    """The answers JSONL ``path`` names: the file itself, or the ``answers.jsonl`` of the
    folder ``intersyn export ... answers`` writes; None when ``path`` is neither."""
    if path.is_file():
        return path if path.suffix.lower() in SUFFIXES else None
    if not (path / "answers.jsonl").is_file() or (path / "samples").is_dir():
        return None
    if any(path.glob("*.parquet")) or (path / "data").is_dir():
        return None
    return path / "answers.jsonl"


#: Per id: (turn, byte offset, line number) of each of its records.
_Index = dict[str, list[tuple[int, int, int]]]


class AnswersFile:
    """An answers JSONL opened for reading (indexed on first use).

    >>> for item in AnswersFile(Path("answers.jsonl")).samples():   # doctest: +SKIP
    ...     print(item)              # an AnswerSample, or a Problem naming file and line
    """

    def __init__(self, path: Path, *, image_root: Path | None = None) -> None:
        self.path = Path(path)
        #: The folder image paths are relative to.
        self.root = Path(image_root) if image_root else self.path.parent
        self._index: _Index | None = None
        self._problems: list[Problem] = []

    def index(self) -> _Index:
        """(turn, offset, line) per id, in first-seen order; line problems kept aside."""
        if self._index is None:
            self._index, self._problems = _build_index(self.path)
        return self._index

    def problems(self) -> list[Problem]:
        """Lines that are no record: bad JSON, no id, a bad turn, a repeated (id, turn)."""
        self.index()
        return self._problems

    def line_of(self, sample_id: str, turn: int) -> int | None:
        """The line of ``(sample_id, turn)``, or None when the file has no such record."""
        for t, _, line in self.index().get(sample_id, ()):
            if t == turn:
                return line
        return None

    def __len__(self) -> int:
        """The number of ids (each a sample, unless its records are bad)."""
        return len(self.index())

    def samples(self) -> Iterator[AnswerSample | Problem]:
        """Line problems first, then each id's turns (first-seen order), or a Problem."""
        index = self.index()
        yield from self._problems
        with open(self.path, "rb") as fh:
            for sid, entries in index.items():
                entries = sorted(entries)
                where = f"{self.path}:{min(e[2] for e in entries)} (sample {sid})"
                turns = [t for t, _, _ in entries]
                expected = list(range(len(turns)))
                if turns != expected:
                    yield Problem(
                        where, f"turns {turns} of sample {sid}; expected {expected} (no gaps)"
                    )
                    continue
                out: list[AnswerTurn] = []
                for turn, offset, line in entries:
                    at = f"{self.path}:{line}"
                    try:
                        out.append(self._turn(fh, sid, turn, offset, at))
                    except ValueError as e:
                        yield Problem(at, f"id {sid!r}: {e}")
                        break
                else:
                    yield AnswerSample(sid, where, out)

    def _turn(self, fh: Any, sid: str, turn: int, offset: int, at: str) -> AnswerTurn:
        fh.seek(offset)
        rec = json.loads(fh.readline())
        fields: dict[str, str | None] = {}
        for name in ("question", "answer", "caption", "image"):
            value = rec.get(name)
            if value is not None and not isinstance(value, str):
                kind = "a path" if name == "image" else "text"
                raise ValueError(
                    f"`{name}` must be a string ({kind}) or null, not {type(value).__name__}"
                )
            fields[name] = value
        if fields["question"] is None:
            raise ValueError("missing `question` (the question the answer answers)")
        return AnswerTurn(
            sample_id=sid,
            turn=turn,
            where=at,
            question=fields["question"] or "",
            answer=fields["answer"] or "",
            caption=fields["caption"],
            image=fields["image"] or None,
            root=self.root,
        )


def _build_index(path: Path) -> tuple[_Index, list[Problem]]:
    index: _Index = {}
    problems: list[Problem] = []
    offset = 0
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None
    with fh:
        for n, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            where = f"{path}:{n}"
            if not raw.strip():
                continue
            try:
                sid, turn = _key(decode_line(raw, where))
            except ValueError as e:
                problems.append(Problem(where, str(e)))
                continue
            entries = index.setdefault(sid, [])
            first = next((line for t, _, line in entries if t == turn), None)
            if first is not None:
                problems.append(
                    Problem(
                        where,
                        f"duplicate id {sid!r} turn {turn} (turn {turn} already appeared on line "
                        f"{first}); "
                        "give each turn of a dialogue its own `turn` number",
                    )
                )
                continue
            entries.append((turn, start, n))
    return index, problems


def _key(rec: Any) -> tuple[str, int]:
    if not isinstance(rec, dict):
        raise ValueError(
            f"a JSON {type(rec).__name__}; each line must be a JSON object with id, question, "
            "answer"
        )
    sid = rec.get("id")
    if isinstance(sid, int) and not isinstance(sid, bool):
        sid = str(sid)
    if not isinstance(sid, str) or not sid:
        raise ValueError(f"missing or empty `id` (got {sid!r}); every record needs an id")
    turn = rec.get("turn", 0)
    if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
        raise ValueError(f"id {sid!r}: `turn` must be an integer >= 0, got {turn!r}")
    return sid, turn


# -- as a dataset ----------------------------------------------------------------------------
class AnswersDataset(Dataset):
    """An answers JSONL read as a dataset (:func:`intersyn.data.dataset.open_dataset`)."""

    kind = "answers"

    def __init__(self, path: Path, *, image_root: Path | None = None) -> None:
        self.file = AnswersFile(path, image_root=image_root)
        super().__init__(self.file.root)
        self._len: int | None = None

    def answer_samples(self) -> Iterator[AnswerSample | Problem]:
        """The file's samples with each turn's lenient image loader (see :class:`AnswersFile`)."""
        return self.file.samples()

    def records(self) -> Iterator[Record]:
        for item in self.file.samples():
            if isinstance(item, Problem):
                yield Record(item.where, None, item.message)
            else:
                yield Record(item.where, item.to_sample())

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for r in self.records() if r.sample is not None)
        return self._len

    def read_image(self, ref: ImageRef) -> bytes:
        return self._read_file(ref)

    def image_or_reason(self, sample: Sample, turn_index: int) -> ImageLoad:
        ref = sample.turns[turn_index].image
        return load_image(self.root, ref.path if ref else None, self._where(sample, turn_index))

    def image_bytes(self, sample: Sample, turn_index: int) -> bytes | None:
        if turn_index < 0 or turn_index >= len(sample.turns):
            raise IndexError(f"sample {sample.id} has no turn {turn_index}")
        if sample.turns[turn_index].image is None:
            return None
        got = self.image_or_reason(sample, turn_index)
        if got.data is None:
            raise InputError(f"sample {sample.id}, turn {turn_index}: {got.reason}")
        return got.data

    def _where(self, sample: Sample, turn_index: int) -> str:
        line = self.file.line_of(sample.id, sample.turns[turn_index].index)
        return f"{self.file.path}:{line}" if line else str(self.file.path)

    def describe(self) -> str:
        return f"answers JSONL {self.file.path} (images under {self.root})"


# -- import / export -------------------------------------------------------------------------
def read(
    src: Path, *, image_root: Path | None = None, **_: Any
) -> Iterator[ImportedSample | Problem]:
    """Samples of an answers JSONL for ``intersyn import``, grouped by id (first-seen order).

    Strict: a turn whose image is missing, refused or not an image makes its sample a
    Problem (the import stops, or skips it with ``--on-error skip``).
    """
    path = src
    if src.is_dir():
        found = sorted(x for x in src.glob("*") if x.suffix.lower() in SUFFIXES)
        if not found:
            raise InputError(f"{src}: no .jsonl file inside")
        path = found[0]
    for item in AnswersFile(path, image_root=image_root).samples():
        if isinstance(item, Problem):
            yield item
            continue
        turns = []
        for t in item.turns:
            got = t.load_image()
            if t.image and got.data is None:
                yield Problem(f"{t.where} (sample {item.id})", str(got.reason))
                break
            turns.append(ImportedTurn(t.question, t.answer, t.caption or "", got.data))
        else:
            yield ImportedSample(id=item.id, where=item.where, turns=turns)


def export(items: Iterable[tuple[Sample, list[bytes | None]]], out: Path, **_: Any) -> int:
    """Write ``out/answers.jsonl`` and ``out/images/``; returns the number of samples."""
    images_dir = out / "images"
    images_dir.mkdir()
    n = 0
    with open(out / "answers.jsonl", "w", encoding="utf-8") as fh:
        for sample, images in items:
            for t, data in zip(sample.turns, images, strict=True):
                image = None
                if data is not None:
                    name = image_name(sample.id, t.index, data)
                    (images_dir / name).write_bytes(data)
                    image = f"images/{name}"
                record = {
                    "id": sample.id,
                    "turn": t.index,
                    "question": t.question,
                    "answer": t.answer,
                    "image": image,
                    "caption": t.caption,
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


__all__ = [
    "AnswerSample",
    "AnswerTurn",
    "AnswersDataset",
    "AnswersFile",
    "answers_file",
    "export",
    "image_name",
    "load_image",
    "read",
]
