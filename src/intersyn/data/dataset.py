"""Read any intersyn dataset the same way, streaming: a run directory, a finalised Parquet
dataset, the released InterSyn Hub layout, or an answers JSONL.

Example::

    from intersyn.data.dataset import open_dataset
    ds = open_dataset("runs/a")                 # or "runs/a/data", "x.parquet", a Hub folder
    print(len(ds), ds.kind)
    for sample in ds.samples():                 # one Sample at a time, never all in memory
        png = ds.image_bytes(sample, 0)         # the encoded image of turn 0, or None

What is read where:

- **run directory** (``samples/`` journals, ``images/``): the journals are the truth, even
  when the run also holds finalised ``data/``; a torn last line (``kill -9``) is ignored.
- **intersyn Parquet** (a folder with ``data/*.parquet``, a folder of shards, or one file):
  read one row group at a time; image bytes are only read when asked for.
- **Hub layout** (``id, topic, human1..5, gpt1..5, caption1..5, image1..5``): topics become
  ``unknown / unknown / <topic>``; images may be Image structs, raw bytes, or paths relative
  to the dataset folder.
- **answers JSONL** (one turn per line; see :mod:`intersyn.data.formats.answers`): a
  ``.jsonl`` file, or the folder ``intersyn export ... answers`` writes; image paths are
  relative to the file's folder or ``image_root``; images are read when asked for.

Every image path is resolved with :func:`intersyn.data.store.safe_join`: ``../x``, absolute
paths and symlinks out of the dataset root are refused, never followed.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from intersyn.data.journal import Journal, read_jsonl_located
from intersyn.data.parquet import row_to_sample
from intersyn.data.store import safe_join
from intersyn.errors import InputError, UnsafePathError
from intersyn.schema import ImageRef, Sample, TopicPath, Turn

UNKNOWN = "unknown"

#: The reason :meth:`Dataset.image_or_reason` gives when a turn simply has no image.
NO_IMAGE_GIVEN = "the answer has no image"


@dataclass(frozen=True)
class ImageLoad:
    """A turn's image read leniently: its bytes, or None and why (absent, missing, corrupt,
    refused path). Readers that must not stop on one bad image (the judge) use this."""

    data: bytes | None
    #: Why there is no image (None when the turn had one and it loaded).
    reason: str | None = None


class Record:
    """One sample as read, or why it could not be read, with where it is (file, line, row)."""

    __slots__ = ("error", "sample", "warning", "where")

    def __init__(
        self, where: str, sample: Sample | None, error: str | None = None, warning: bool = False
    ) -> None:
        self.where = where
        self.sample = sample
        self.error = error
        #: A problem that loses nothing (e.g. the torn last line a crash leaves).
        self.warning = warning


def describe_validation(e: ValidationError) -> str:
    """A pydantic error as one line: ``field.path: message; ...``."""
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "record"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = len(e.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


class Dataset(ABC):
    """A dataset opened for reading. Use :func:`open_dataset`."""

    kind: str = "dataset"

    def __init__(self, root: Path) -> None:
        #: The folder image paths are relative to.
        self.root = Path(root)
        #: What was opened (a folder, a .parquet or .jsonl file): what to name the dataset by.
        self.path = self.root

    @abstractmethod
    def records(self) -> Iterator[Record]:
        """Every sample with where it came from, and every record that is not a sample."""

    def samples(
        self, *, on_error: str = "stop", on_skip: Callable[[Record], None] | None = None
    ) -> Iterator[Sample]:
        """Every sample, streaming. A bad record raises InputError naming where it is
        (``on_error="skip"`` passes over it and hands it to ``on_skip``, so a caller can say
        what it left out; :meth:`records` lists them all)."""
        for rec in self.records():
            if rec.sample is not None:
                yield rec.sample
            elif rec.warning:
                continue
            elif on_error != "skip":
                raise InputError(
                    f"{rec.where}: {rec.error}. Fix or remove the record, or skip bad records "
                    "(--on-error skip); `intersyn validate` lists every problem."
                )
            elif on_skip is not None:
                on_skip(rec)

    @abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    @abstractmethod
    def read_image(self, ref: ImageRef) -> bytes:
        """The encoded bytes of an image of this dataset (InputError when missing)."""

    def image_bytes(self, sample: Sample, turn_index: int) -> bytes | None:
        """The encoded image of turn ``turn_index`` of ``sample``, or None when it has none."""
        if turn_index < 0 or turn_index >= len(sample.turns):
            raise IndexError(f"sample {sample.id} has no turn {turn_index}")
        ref = sample.turns[turn_index].image
        if ref is None:
            return None
        try:
            return self.read_image(ref)
        except InputError as e:
            raise InputError(f"sample {sample.id}, turn {turn_index}: {e}") from e

    def image_or_reason(self, sample: Sample, turn_index: int) -> ImageLoad:
        """The image of a turn, or None and why: never raises for a missing or unreadable
        image (that is one turn's problem, not the reader's)."""
        if sample.turns[turn_index].image is None:
            return ImageLoad(None, NO_IMAGE_GIVEN)
        what = f"of sample {sample.id!r} turn {turn_index}"
        try:
            data = self.image_bytes(sample, turn_index)
        except (InputError, OSError) as e:
            return ImageLoad(None, f"image {what} cannot be read: {e}")
        if data is None:
            return ImageLoad(None, f"image {what} is missing")
        return ImageLoad(data)

    def failures(self) -> dict[str, dict[str, Any]]:
        """Samples that failed with a reason (run directories only)."""
        return {}

    def describe(self) -> str:
        return f"{self.kind} at {self.root}"

    def _read_file(self, ref: ImageRef) -> bytes:
        path = safe_join(self.root, ref.path)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise InputError(
                f"image {ref.path!r} is missing (looked for {path}); restore the file or "
                "re-create the sample"
            ) from None
        except (IsADirectoryError, PermissionError) as e:
            raise InputError(f"image {ref.path!r} cannot be read ({e})") from None


# -- run directory ---------------------------------------------------------------------------
class RunDataset(Dataset):
    """A run directory written by :class:`intersyn.data.store.RunStore`."""

    kind = "run"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        if not (self.root / "samples").is_dir() and not (self.root / "run.json").is_file():
            raise InputError(f"{self.root} is not a run directory (no samples/ or run.json inside)")
        self._journal = Journal(self.root / "samples", "samples")
        self._len: int | None = None

    def records(self) -> Iterator[Record]:
        """Samples in commit order; a repeated id keeps its first record (as resume does)."""
        seen: set[str] = set()
        for part in self._journal.parts():
            for line in read_jsonl_located(part):
                if line.record is None:
                    yield Record(line.where, None, line.error, warning=line.torn)
                    continue
                sid = line.record.get("id")
                if isinstance(sid, str) and sid in seen:
                    yield Record(line.where, None, f"duplicate id {sid!r} (first record kept)")
                    continue
                try:
                    sample = Sample.model_validate(line.record)
                except ValidationError as e:
                    yield Record(line.where, None, f"not a valid sample: {describe_validation(e)}")
                    continue
                seen.add(sample.id)
                yield Record(line.where, sample)

    def samples_sorted(self) -> Iterator[Sample]:
        """Samples in id order (first record of an id), reading one line at a time."""
        index: dict[str, tuple[int, int, int]] = {}
        parts = self._journal.parts()
        for p, part in enumerate(parts):
            for line, offset, rec in _lines_with_offsets(part):
                sid = rec.get("id")
                if isinstance(sid, str) and sid not in index:
                    index[sid] = (p, offset, line)
        handles: dict[int, Any] = {}
        try:
            for sid in sorted(index):
                p, offset, line = index[sid]
                fh = handles.get(p) or handles.setdefault(p, open(parts[p], "rb"))  # noqa: SIM115
                fh.seek(offset)
                try:
                    yield Sample.model_validate(json.loads(fh.readline()))
                except ValidationError as e:
                    raise InputError(
                        f"{parts[p]}:{line}: not a valid sample: {describe_validation(e)}"
                    ) from None
        finally:
            for fh in handles.values():
                fh.close()

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for r in self.records() if r.sample is not None)
        return self._len

    def read_image(self, ref: ImageRef) -> bytes:
        return self._read_file(ref)

    def failures(self) -> dict[str, dict[str, Any]]:
        failed = Journal(self.root / "failed", "failed")
        if not failed.parts():  # nothing failed: no need to read every sample again
            return {}
        done = {r.sample.id for r in self.records() if r.sample is not None}
        out: dict[str, dict[str, Any]] = {}
        for rec in failed.read():
            sid = rec.get("id")
            if isinstance(sid, str) and sid not in done:
                out[sid] = rec
        return out


def _lines_with_offsets(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    offset = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            start, offset = offset, offset + len(raw)
            if not raw.endswith(b"\n"):
                return
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict):
                yield n, start, rec


# -- Parquet ---------------------------------------------------------------------------------
class _ParquetDataset(Dataset):
    """Shared reading of Parquet shards, one row group at a time."""

    def __init__(self, root: Path, files: list[Path]) -> None:
        super().__init__(root)
        self.files = files
        self._meta = [_parquet_file(f) for f in files]
        #: (file, row group) whose images are cached, and those images by id and by path.
        self._cached: tuple[int, int] | None = None
        self._by_id: dict[str, list[bytes | None]] = {}
        self._by_path: dict[str, bytes] = {}
        self._cursor: tuple[int, int] | None = None
        self._cursor_ids: set[str] = set()
        self._id_index: dict[str, tuple[int, int]] | None = None
        self._path_index: dict[str, tuple[int, int]] | None = None
        # One reader at a time: a ParquetFile and the image cache are not thread-safe, and
        # the judge reads images in worker threads while the main thread lists samples.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return sum(m.metadata.num_rows for m in self._meta)

    def _groups(self) -> Iterator[tuple[int, int]]:
        for f, meta in enumerate(self._meta):
            for g in range(meta.metadata.num_row_groups):
                yield f, g

    @abstractmethod
    def _text_columns(self, f: int) -> list[str] | None:
        """Columns read to build samples (None: all)."""

    @abstractmethod
    def _build(self, row: dict[str, Any], where: str) -> Sample:
        """The sample of one row (raises ValueError / ValidationError)."""

    @abstractmethod
    def _images_of(self, f: int, g: int) -> list[tuple[str, list[tuple[str, bytes | None]]]]:
        """For each row of a row group: (id, [(image path, bytes) per turn])."""

    def records(self) -> Iterator[Record]:
        """Rows in file order; a repeated id is a bad record naming the row of its first
        appearance (the first row is kept), as for run directories and answers JSONL."""
        seen: dict[str, str] = {}
        for f, g in self._groups():
            with self._lock:
                table = self._meta[f].read_row_group(g, columns=self._text_columns(f))
                first = sum(self._meta[f].metadata.row_group(i).num_rows for i in range(g))
                rows = table.to_pylist()
                self._cursor = (f, g)
                self._cursor_ids = {r["id"] for r in rows if isinstance(r.get("id"), str)}
            for n, row in enumerate(rows):
                where = f"{self.files[f]}: row {first + n}"
                if isinstance(row.get("id"), str):
                    where += f" (sample {row['id']})"
                sid = row.get("id")
                if isinstance(sid, str) and sid in seen:
                    yield Record(
                        where, None, f"duplicate id {sid!r} (first at {seen[sid]}; first kept)"
                    )
                    continue
                if isinstance(sid, str):
                    seen[sid] = f"row {first + n} of {self.files[f].name}"
                try:
                    yield Record(where, self._build(row, where))
                except ValidationError as e:
                    yield Record(where, None, f"not a valid sample: {describe_validation(e)}")
                except (ValueError, TypeError, InputError) as e:
                    yield Record(where, None, str(e))

    def _load(self, f: int, g: int) -> None:
        if self._cached == (f, g):
            return
        self._by_id, self._by_path = {}, {}
        for sid, images in self._images_of(f, g):  # a repeated id: the first row's images
            self._by_id.setdefault(sid, [b for _, b in images])
            for path, data in images:
                if data is not None:
                    self._by_path.setdefault(path, data)
        self._cached = (f, g)

    def image_bytes(self, sample: Sample, turn_index: int) -> bytes | None:
        with self._lock:
            return self._image_bytes(sample, turn_index)

    def _image_bytes(self, sample: Sample, turn_index: int) -> bytes | None:
        if turn_index < 0 or turn_index >= len(sample.turns):
            raise IndexError(f"sample {sample.id} has no turn {turn_index}")
        if sample.turns[turn_index].image is None:
            return None
        loc = self._cursor if sample.id in self._cursor_ids else self._locate_id(sample.id)
        if loc is not None:
            self._load(*loc)
            images = self._by_id.get(sample.id)
            if images is not None and turn_index < len(images):
                data = images[turn_index]
                if data is not None:
                    return data
        return super().image_bytes(sample, turn_index)

    def read_image(self, ref: ImageRef) -> bytes:
        with self._lock:
            return self._read_image(ref)

    def _read_image(self, ref: ImageRef) -> bytes:
        if ref.path in self._by_path:
            return self._by_path[ref.path]
        try:
            path = safe_join(self.root, ref.path)
        except UnsafePathError:
            path = None  # an embedded image's original name may be anything
        if path is not None and path.is_file():
            return path.read_bytes()
        loc = self._locate_path(ref.path)
        if loc is not None:
            self._load(*loc)
            if ref.path in self._by_path:
                return self._by_path[ref.path]
        if path is None:
            safe_join(self.root, ref.path)  # raises the clear "escapes the root" error
        return self._read_file(ref)

    def _locate_id(self, sid: str) -> tuple[int, int] | None:
        if self._id_index is None:
            self._id_index = {}
            for f, g in self._groups():
                ids = self._meta[f].read_row_group(g, columns=["id"]).column(0).to_pylist()
                for i in ids:
                    if isinstance(i, str):
                        self._id_index.setdefault(i, (f, g))
        return self._id_index.get(sid)

    def _locate_path(self, path: str) -> tuple[int, int] | None:
        if self._path_index is None:
            self._path_index = {}
            for f, g in self._groups():
                for _sid, images in self._images_of(f, g):
                    for p, _ in images:
                        self._path_index.setdefault(p, (f, g))
        return self._path_index.get(path)


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{path}: not a readable Parquet file ({e})") from None


def _fallback_path(sid: Any, index: Any) -> str:
    return f"{sid}/turn{index}.png"


_TURN_TEXT = [
    "index",
    "question",
    "answer",
    "caption",
    "image.path",
    "image_seed",
    "image_preview",
    "image_meta",
    "stop_reasons",
    "trace",
]


class ParquetDataset(_ParquetDataset):
    """A finalised intersyn dataset (see :mod:`intersyn.data.parquet`)."""

    kind = "parquet"

    def __init__(self, root: Path, files: list[Path]) -> None:
        super().__init__(root, files)
        from intersyn.data.parquet import SCHEMA

        for f, meta in zip(files, self._meta, strict=True):
            check_columns(f, meta.schema_arrow, SCHEMA)

    def _text_columns(self, f: int) -> list[str] | None:
        top = [n for n in self._meta[f].schema_arrow.names if n != "turns"]
        return top + [f"turns.list.element.{c}" for c in _TURN_TEXT]

    def _build(self, row: dict[str, Any], where: str) -> Sample:
        return row_to_sample(row)

    def _images_of(self, f: int, g: int) -> list[tuple[str, list[tuple[str, bytes | None]]]]:
        table = self._meta[f].read_row_group(
            g, columns=["id", "turns.list.element.index", "turns.list.element.image"]
        )
        out = []
        for row in table.to_pylist():
            sid = row.get("id")
            images = []
            for n, t in enumerate(row.get("turns") or []):
                image = t.get("image") or {}
                path = image.get("path") or _fallback_path(sid, t.get("index", n))
                images.append((path, image.get("bytes")))
            out.append((str(sid), images))
        return out


def check_columns(path: Path, found: pa.Schema, expected: pa.Schema) -> None:
    """InputError naming every missing or wrongly typed column of a Parquet file."""
    problems = []
    for field in expected:
        if field.name not in found.names:
            problems.append(f"column {field.name!r} is missing")
            continue
        got = found.field(field.name).type
        if not _compatible(got, field.type):
            problems.append(f"column {field.name!r} is {got}, expected {field.type}")
    if problems:
        raise InputError(
            f"{path}: not an intersyn dataset: "
            + "; ".join(problems)
            + ". Re-create it with `intersyn finalize` or import it with `intersyn import`."
        )


def _compatible(got: pa.DataType, want: pa.DataType) -> bool:
    if got == want or pa.types.is_null(got):
        return True
    if pa.types.is_string(want):
        return pa.types.is_large_string(got) or pa.types.is_string_view(got)
    if pa.types.is_binary(want):
        return pa.types.is_large_binary(got) or pa.types.is_binary_view(got)
    if pa.types.is_integer(want):
        return pa.types.is_integer(got)
    if pa.types.is_list(want):
        return (pa.types.is_list(got) or pa.types.is_large_list(got)) and _compatible(
            got.value_type, want.value_type
        )
    if pa.types.is_struct(want) and pa.types.is_struct(got):
        names = {got.field(i).name: got.field(i).type for i in range(got.num_fields)}
        return all(
            want.field(i).name in names
            and _compatible(names[want.field(i).name], want.field(i).type)
            for i in range(want.num_fields)
        )
    return False


# -- Hub layout ------------------------------------------------------------------------------
_HUB_TURN = re.compile(r"^(human|gpt|caption|image)(\d+)$")


class HubDataset(_ParquetDataset):
    """The released InterSyn layout: ``id, topic, human1..5, gpt1..5, caption1..5, image1..5``."""

    kind = "hub"

    def __init__(self, root: Path, files: list[Path]) -> None:
        super().__init__(root, files)
        self.turns = 0
        for f, meta in zip(files, self._meta, strict=True):
            self.turns = max(self.turns, _check_hub_columns(f, meta.schema_arrow))

    def _text_columns(self, f: int) -> list[str] | None:
        return None

    def _build(self, row: dict[str, Any], where: str) -> Sample:
        return hub_row_to_sample(row, self.turns)

    def _images_of(self, f: int, g: int) -> list[tuple[str, list[tuple[str, bytes | None]]]]:
        table = self._meta[f].read_row_group(g)
        out = []
        for row in table.to_pylist():
            sid = row.get("id")
            images = []
            for i in range(1, self.turns + 1):
                value = row.get(f"image{i}")
                data = value.get("bytes") if isinstance(value, dict) else value
                if not isinstance(data, bytes):  # absent, or a path to a file
                    data = None
                images.append((hub_image_path(sid, i), data))
            out.append((str(sid), images))
        return out

    def _read_image(self, ref: ImageRef) -> bytes:
        if ref.path in self._by_path:
            return self._by_path[ref.path]
        loc = self._locate_path(ref.path)
        if loc is not None:
            self._load(*loc)
            if ref.path in self._by_path:
                return self._by_path[ref.path]
        return self._read_file(ref)


def hub_image_path(sid: Any, i: int) -> str:
    """The path an embedded Hub image goes by (``<id>/image<i>``; unique per id and turn)."""
    return f"{sid}/image{i}"


def _check_hub_columns(path: Path, schema: pa.Schema) -> int:
    problems = []
    turns = 0
    for name in schema.names:
        m = _HUB_TURN.match(name)
        if m:
            turns = max(turns, int(m.group(2)))
    if "id" not in schema.names:
        problems.append("column 'id' is missing")
    elif not _is_text(schema.field("id").type):
        problems.append(f"column 'id' is {schema.field('id').type}, expected string")
    if "human1" not in schema.names:
        problems.append("column 'human1' is missing")
    if "topic" in schema.names and not _is_text(schema.field("topic").type):
        problems.append(f"column 'topic' is {schema.field('topic').type}, expected string")
    for name in schema.names:
        m = _HUB_TURN.match(name)
        if not m:
            continue
        t = schema.field(name).type
        if m.group(1) == "image":
            if not (_is_text(t) or _is_bytes(t) or _is_image_struct(t)):
                problems.append(
                    f"column {name!r} is {t}, expected an Image struct {{bytes, path}}, "
                    "binary, or a path string"
                )
        elif not _is_text(t):
            problems.append(f"column {name!r} is {t}, expected string")
    if problems:
        raise InputError(
            f"{path}: not an InterSyn Hub-layout file: "
            + "; ".join(problems)
            + ". Expected columns: id, topic, human1..5, gpt1..5, caption1..5, image1..5."
        )
    return turns


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _is_bytes(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _is_image_struct(t: pa.DataType) -> bool:
    if not pa.types.is_struct(t):
        return False
    names = {t.field(i).name for i in range(t.num_fields)}
    return "bytes" in names or "path" in names


def hub_row_to_sample(row: dict[str, Any], turns: int) -> Sample:
    """A Sample from one Hub-layout row. What Hub columns carry beyond the schema (the
    original image names, how absent turns were written, extra columns) goes to
    ``meta["hub"]`` so an export gives the same row back."""
    sid = row.get("id")
    if not isinstance(sid, str) or not sid:
        raise ValueError(f"id is {sid!r}; every row needs a non-empty string id")
    out: list[Turn] = []
    names: dict[str, str | None] = {}
    absent: str | None = None
    for i in range(1, turns + 1):
        values = {k: row.get(f"{k}{i}") for k in ("human", "gpt", "caption", "image")}
        if all(v is None or v == "" or v == {"bytes": None, "path": None} for v in values.values()):
            if any(v == "" for v in values.values()):
                absent = ""
            continue
        if len(out) != i - 1:
            raise ValueError(f"turn {i} is present but turn {len(out) + 1} is empty")
        image = values["image"]
        ref = None
        if isinstance(image, dict) and (image.get("bytes") is not None or image.get("path")):
            names[str(i)] = image.get("path")
            ref = ImageRef(
                path=hub_image_path(sid, i)
                if image.get("bytes") is not None
                else str(image.get("path"))
            )
        elif isinstance(image, bytes | bytearray):
            ref = ImageRef(path=hub_image_path(sid, i))
        elif isinstance(image, str) and image:
            ref = ImageRef(path=image)
        out.append(
            Turn(
                index=i - 1,
                question=_text(values["human"], f"human{i}"),
                answer=_text(values["gpt"], f"gpt{i}"),
                caption=_text(values["caption"], f"caption{i}"),
                image=ref,
            )
        )
    topic = row.get("topic")
    extra = {
        k: v
        for k, v in row.items()
        if k not in ("id", "topic") and not _HUB_TURN.match(k) and _jsonable(v)
    }
    hub: dict[str, Any] = {"image_names": names, "absent": absent}
    if extra:
        hub["extra"] = extra
    return Sample(
        id=sid,
        topic=TopicPath(domain=UNKNOWN, category=UNKNOWN, topic=topic or UNKNOWN),
        turns=out,
        meta={"hub": hub},
    )


def _text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{column} is {type(value).__name__}, expected text")
    return value


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


# -- opening ---------------------------------------------------------------------------------
def open_dataset(path: str | Path, *, image_root: str | Path | None = None) -> Dataset:
    """Open a run directory, a finalised intersyn Parquet dataset, a Hub-layout Parquet, or
    an answers JSONL.

    ``path`` may be a run directory, a dataset folder holding ``data/*.parquet``, a folder of
    ``.parquet`` files, one ``.parquet`` file, an answers ``.jsonl`` (or the folder holding
    the ``answers.jsonl`` that ``intersyn export ... answers`` writes). ``image_root`` is the
    folder an answers JSONL's image paths are relative to (default: the file's folder).
    Raises InputError saying what was expected when it is none of those.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    ds = _open(p, image_root)
    ds.path = p
    return ds


def _open(p: Path, image_root: str | Path | None) -> Dataset:
    if p.is_dir() and ((p / "samples").is_dir() or (p / "run.json").is_file()):
        return RunDataset(p)
    from intersyn.data.formats.answers import AnswersDataset, answers_file

    jsonl = answers_file(p)
    if jsonl is not None:
        return AnswersDataset(jsonl, image_root=Path(image_root) if image_root else None)
    files, root = _parquet_files(p)
    if not files:
        raise InputError(
            f"{p}: no dataset here: expected a run directory (samples/, run.json), a folder "
            "with data/*.parquet, .parquet files, or an answers .jsonl. Other formats: "
            "`intersyn import`."
        )
    names = _parquet_file(files[0]).schema_arrow.names
    if "turns" in names:
        return ParquetDataset(root, files)
    if "human1" in names or any(_HUB_TURN.match(n) for n in names):
        return HubDataset(root, files)
    raise InputError(
        f"{files[0]}: neither an intersyn dataset (a 'turns' column) nor the Hub layout "
        f"(id, topic, human1..5, ...); its columns are {', '.join(names)}"
    )


def _parquet_files(p: Path) -> tuple[list[Path], Path]:
    if p.is_file():
        root = p.parent.parent if p.parent.name == "data" else p.parent
        return [p], root
    for folder in (p / "data", p):
        files = sorted(x for x in folder.glob("*.parquet") if x.is_file())
        if files:
            # Trace images live beside data/ (the run directory): that folder is the root.
            return files, (p.parent if folder == p and p.name == "data" else p)
    return [], p
