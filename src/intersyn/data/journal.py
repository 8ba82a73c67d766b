"""Crash-safe append-only JSON-lines journals and atomic file writes.

The one home of "durable before counted": a record is appended as one line, flushed and
fsync'ed before :meth:`Journal.append` returns. Each writer process appends to its own part
file (``<prefix>-<unique>.jsonl``), so concurrent writers (local tasks, Ray workers) never
interleave bytes. A reader ignores a torn last line (a write cut by ``kill -9``): no
half-written record is ever read back.

Group commit: an fsync costs the same for one line as for a hundred, so appends made at the
same time from several threads of one process share one write and one fsync (the first
caller writes everything queued while the previous fsync ran; every caller still returns
only once its own record is durable). :meth:`Journal.append_many` writes a batch the same way.
From asyncio, ``await asyncio.to_thread(journal.append, rec)`` without a lock around it lets
concurrent tasks coalesce.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file, the whole new one, or nothing.

    With ``fsync`` (the default) the file and its folder are flushed to disk before this
    returns; without it the write is still atomic but may be lost by a power cut.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


class _Batch:
    """Lines queued for one write + fsync, and how that write ended."""

    __slots__ = ("done", "error", "lines")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.done = False
        self.error: BaseException | None = None


def encode_record(record: dict[str, Any]) -> bytes:
    """One journal line: compact JSON, UTF-8, newline-terminated."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    return line.encode("utf-8") + b"\n"


class Journal:
    """An append-only set of JSON-lines part files in ``directory`` sharing ``prefix``.

    >>> j = Journal(Path("run/samples"), "samples")      # doctest: +SKIP
    >>> j.append({"id": "s1"})                           # durable when this returns
    >>> j.append_many([{"id": "s2"}, {"id": "s3"}])      # one write, one fsync
    >>> [r["id"] for r in j.read()]                      # every part file, torn lines skipped

    Thread-safe: concurrent appends coalesce into one fsync (see the module notes).
    """

    def __init__(self, directory: Path, prefix: str, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.fsync = fsync
        self._fh: Any = None
        self._path: Path | None = None
        self._cond = threading.Condition(threading.Lock())
        self._open_batch = _Batch()
        self._writing = False
        #: After a failed write the file may end in a fragment: start the next on a new line.
        self._torn = False
        #: How many writes (each one fsync) this journal made; tells how well appends coalesce.
        self.writes = 0

    @property
    def path(self) -> Path | None:
        """This writer's own part file (created on first append)."""
        return self._path

    def _open(self) -> Any:
        if self._fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            unique = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
            self._path = self.directory / f"{self.prefix}-{unique}.jsonl"
            self._fh = open(self._path, "ab")  # noqa: SIM115 - kept open for appends
            _fsync_dir(self.directory)
        return self._fh

    def append(self, record: dict[str, Any]) -> None:
        """Append one record; durable when this returns."""
        self._commit([encode_record(record)])

    def append_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Append several records with one write and one fsync; all durable when this returns.

        A crash mid-write leaves a prefix of them (whole lines) plus at most one torn line,
        which readers skip.
        """
        lines = [encode_record(r) for r in records]
        if lines:
            self._commit(lines)

    def _commit(self, lines: list[bytes]) -> None:
        led = False
        with self._cond:
            batch = self._open_batch
            batch.lines.extend(lines)
            while not batch.done:
                if self._writing:
                    self._cond.wait()  # a write is running; ours goes in the next one
                    continue
                # Lead: write every line queued so far (ours and whoever joined) at once.
                todo, self._open_batch = self._open_batch, _Batch()
                self._writing = led = True
                self._cond.release()
                try:
                    self._write(todo.lines)
                except BaseException as e:
                    todo.error = e
                finally:
                    self._cond.acquire()
                    self._writing = False
                    todo.done = True
                    self._cond.notify_all()
        if batch.error is not None:
            if led:
                raise batch.error
            raise OSError(
                f"{self._path or self.directory}: the write holding this record failed "
                f"({batch.error!r}); it is not durable"
            ) from batch.error

    def _write(self, lines: list[bytes]) -> None:
        fh = self._open()
        data = b"".join(lines)
        if self._torn:
            data = b"\n" + data
        try:
            fh.write(data)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        except BaseException:
            self._torn = True
            raise
        self._torn = False
        self.writes += 1

    def close(self) -> None:
        with self._cond:
            while self._writing:
                self._cond.wait()
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def parts(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{self.prefix}-*.jsonl"))

    def read(self) -> Iterator[dict[str, Any]]:
        """Every complete record of every part file, in file order; torn lines skipped."""
        for part in self.parts():
            yield from read_jsonl_tolerant(part)


class JournalLine:
    """One line of a journal part, with where it is: a record, or why it is not one."""

    __slots__ = ("error", "line", "path", "record", "torn")

    def __init__(
        self,
        path: Path,
        line: int,
        record: dict[str, Any] | None,
        error: str | None = None,
        torn: bool = False,
    ) -> None:
        self.path = path
        self.line = line
        self.record = record
        self.error = error
        #: True for a last line cut by a crash (expected after kill -9; never a sample).
        self.torn = torn

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def read_jsonl_located(path: Path) -> Iterator[JournalLine]:
    """Every line of a journal part with its line number, including the ones readers skip.

    Used by ``validate`` to report a damaged line; :func:`read_jsonl_tolerant` is the reader.
    """
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                yield JournalLine(path, n, None, "last line is incomplete (cut by a crash)", True)
                return
            if raw == b"\n":
                continue  # written after a failed write, to start the next record cleanly
            try:
                rec = json.loads(raw)
            except UnicodeDecodeError as e:
                yield JournalLine(path, n, None, f"not UTF-8 text ({e.reason} at byte {e.start})")
                continue
            except json.JSONDecodeError as e:
                yield JournalLine(path, n, None, f"not valid JSON ({e.msg}, column {e.colno})")
                continue
            if not isinstance(rec, dict):
                yield JournalLine(path, n, None, f"a JSON {type(rec).__name__}, not an object")
                continue
            yield JournalLine(path, n, rec)


def read_jsonl_tolerant(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a journal part; a line without its newline or not valid JSON is a torn write."""
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return  # torn last write: never read back
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a torn write followed by a later append: skip the fragment
            if isinstance(rec, dict):
                yield rec
