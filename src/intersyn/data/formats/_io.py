"""Reading user files strictly (every problem named by file and line); writing outputs so
that a failure leaves nothing half-done lives in :mod:`intersyn.data.outputs`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intersyn.data.images import image_header
from intersyn.data.store import image_info, safe_join
from intersyn.errors import InputError, UnsafePathError


@dataclass
class Problem:
    """A record of an input that cannot become a sample: where, and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ImportedTurn:
    question: str
    answer: str
    caption: str = ""
    #: The encoded image, or None when the turn has none.
    image: bytes | None = None


@dataclass
class ImportedSample:
    """A sample read from a foreign format, before it is written to a run directory."""

    id: str
    where: str
    turns: list[ImportedTurn]
    topic: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: A full intersyn sample record when the format carries one (WebDataset json).
    record: dict[str, Any] | None = None


def decode_line(raw: bytes, where: str) -> Any:
    """One JSON value from one line of bytes; ValueError says what is wrong, for ``where``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
            "re-save the file as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any] | Problem]]:
    """``(where, record)`` for each non-blank line of a JSONL file, or a Problem naming the
    line. Reads one line at a time."""
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None
    with fh:
        for n, raw in enumerate(fh, start=1):
            where = f"{path}:{n}"
            if not raw.strip():
                continue
            try:
                value = decode_line(raw, where)
            except ValueError as e:
                yield where, Problem(where, str(e))
                continue
            if not isinstance(value, dict):
                yield where, Problem(where, f"a JSON {type(value).__name__}, expected an object")
                continue
            yield where, value


def read_json_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | Problem]]:
    """Records of a JSON array file, streamed (one element in memory at a time), or of a
    JSONL file. Problems name the element index (arrays) or the line (JSONL)."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    if not head.startswith(b"["):
        yield from read_jsonl(path)
        return
    for n, value in enumerate(_iter_array(path)):
        where = f"{path}: element {n}"
        if isinstance(value, Problem):
            yield where, Problem(where, value.message)
            return
        if not isinstance(value, dict):
            yield where, Problem(where, f"a JSON {type(value).__name__}, expected an object")
            continue
        yield where, value


def _iter_array(path: Path, chunk: int = 1 << 20) -> Iterator[Any]:
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    started = False
    with open(path, encoding="utf-8-sig", errors="strict") as fh:
        eof = False
        while True:
            if not eof and len(buf) - pos < chunk:
                try:
                    data = fh.read(chunk)
                except UnicodeDecodeError as e:
                    yield Problem(str(path), f"not UTF-8 text ({e.reason}); re-save it as UTF-8")
                    return
                eof = data == ""
                buf = buf[pos:] + data
                pos = 0
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if not started:
                if pos < len(buf) and buf[pos] == "[":
                    started, pos = True, pos + 1
                    continue
                if pos < len(buf) or eof:
                    yield Problem(str(path), "not a JSON array")
                    return
                continue
            if pos < len(buf) and buf[pos] == "]":
                return
            if pos >= len(buf):
                if eof:
                    yield Problem(str(path), "the JSON array is not closed (file cut short?)")
                    return
                continue
            try:
                value, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as e:
                if not eof:
                    # The element may continue in the next chunk: read more and retry.
                    more = fh.read(chunk)
                    if more:
                        buf = buf[pos:] + more
                        pos = 0
                        continue
                    eof = True
                    continue
                yield Problem(str(path), f"not valid JSON ({e.msg})")
                return
            pos = end
            yield value


def load_image_file(root: Path, relative: str, where: str) -> bytes:
    """The bytes of an image named in a record, relative to ``root``: refused when the path
    escapes the root, an InputError naming the record when missing or not an image."""
    try:
        path = safe_join(root, relative)
    except UnsafePathError as e:
        raise InputError(f"{where}: {e}; images must stay inside {root}") from None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{where}: image {relative!r} is missing (looked for {path})") from None
    except OSError as e:
        raise InputError(f"{where}: image {relative!r} cannot be read ({e.strerror})") from None
    image_info(data, where=f"{where}: image {relative!r}")
    return data


def image_name(sample_id: str, turn: int, data: bytes) -> str:
    """A file name for an exported image: readable, unique per (id, turn), safe anywhere."""
    ext = image_header(data, where=f"sample {sample_id}, turn {turn}").ext
    clean = "".join(c if c.isalnum() or c in "-_" else "_" for c in sample_id)[:80]
    if clean != sample_id:
        clean += "-" + hashlib.sha1(sample_id.encode()).hexdigest()[:8]
    return f"{clean}_{turn}.{ext}"


class JsonArrayWriter:
    """Writes a JSON array one element at a time (a whole dataset is never in memory)."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115
        self._fh.write("[\n")
        self._first = True

    def write(self, value: Any) -> None:
        if not self._first:
            self._fh.write(",\n")
        self._first = False
        self._fh.write(json.dumps(value, ensure_ascii=False))

    def close(self) -> None:
        self._fh.write("\n]\n")
        self._fh.close()
