"""The content-addressed response cache: a hit replays a call already paid for.

One SQLite file in WAL mode, so several processes (local workers, Ray actors on one node) read
and write it at once; a busy database is waited for, never an error. The key is the SHA-256 of
a canonical JSON of everything that decides the reply: backend, model, messages (images by
their SHA-256), parameters, schema and seed (:func:`chat_key`, :func:`paint_key`).
Keys never contain secrets: API keys are not part of any call's content.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from intersyn.errors import ConfigError
from intersyn.models.base import ChatMessage, ChatResult, PaintResult, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    meta TEXT NOT NULL,
    blob BLOB,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
)
"""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chat_key(
    backend: str,
    model: str,
    messages: list[ChatMessage],
    *,
    params: dict[str, Any],
    schema: dict[str, Any] | None,
    seed: int | None,
) -> str:
    """The cache key of a chat call."""
    msgs = [
        {
            "role": m.role,
            "content": m.content,
            "images": [hashlib.sha256(b).hexdigest() for b in m.images],
        }
        for m in messages
    ]
    blob = _canonical(
        {
            "kind": "chat",
            "backend": backend,
            "model": model,
            "messages": msgs,
            "params": params,
            "schema": schema,
            "seed": seed,
        }
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def paint_key(
    backend: str,
    model: str,
    prompt: str,
    *,
    size: tuple[int, int],
    params: dict[str, Any],
    seed: int | None,
) -> str:
    """The cache key of a paint call."""
    blob = _canonical(
        {
            "kind": "paint",
            "backend": backend,
            "model": model,
            "prompt": prompt,
            "size": list(size),
            "params": params,
            "seed": seed,
        }
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _check_not_foreign(path: Path) -> None:
    """Refuse a file that exists and is not a response cache (another SQLite database, a
    dataset): opening it would add a table to it and switch its journal mode."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    hint = "point cache_path (or the command) at a cache.sqlite intersyn wrote; nothing was changed"
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise ConfigError(f"{path}: not an intersyn response cache (not SQLite); {hint}")
    try:
        ro = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            ro.close()
    except sqlite3.DatabaseError as e:
        raise ConfigError(f"{path}: not a readable response cache ({e}); {hint}") from None
    if tables and "responses" not in tables:
        shown = ", ".join(sorted(tables)[:5])
        raise ConfigError(
            f"{path}: a SQLite database of something else (tables: {shown}), not an intersyn "
            f"response cache; {hint}"
        )


class ResponseCache:
    """SQLite response cache, safe with concurrent readers and writers (threads and processes).

    >>> cache = ResponseCache(Path("run/cache.sqlite"))   # doctest: +SKIP
    >>> cache.put_chat(key, result); cache.get_chat(key)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        _check_not_foreign(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=timeout_s, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # A cache may lose its last writes on power loss, never get corrupted: NORMAL is enough.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ConfigError(
                f"{self.path}: cannot open the response cache ({e}); "
                "delete the file or set cache_path to another place"
            ) from None
        self._lock = threading.Lock()

    # -- chat --------------------------------------------------------------------------------

    def get_chat(self, key: str) -> ChatResult | None:
        row = self._get(key, "chat")
        if row is None:
            return None
        meta = json.loads(row[0])
        usage = Usage(**meta.pop("usage", {}))
        usage.cached, usage.retries, usage.latency_s, usage.cost_usd = True, 0, 0.0, 0.0
        return ChatResult(usage=usage, **meta)

    def put_chat(self, key: str, result: ChatResult) -> None:
        meta = asdict(result)
        meta["endpoint"] = None
        self._put(key, "chat", meta, None)

    # -- paint -------------------------------------------------------------------------------

    def get_paint(self, key: str) -> PaintResult | None:
        row = self._get(key, "paint")
        if row is None:
            return None
        meta = json.loads(row[0])
        usage = Usage(**meta.pop("usage", {}))
        usage.cached, usage.retries, usage.latency_s, usage.cost_usd = True, 0, 0.0, 0.0
        return PaintResult(image=bytes(row[1] or b""), usage=usage, **meta)

    def put_paint(self, key: str, result: PaintResult) -> None:
        meta = asdict(result)
        image = meta.pop("image")
        self._put(key, "paint", meta, image)

    # -- plumbing ----------------------------------------------------------------------------

    def _get(self, key: str, kind: str) -> tuple[str, bytes | None] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT meta, blob FROM responses WHERE key = ? AND kind = ?", (key, kind)
            ).fetchone()
            if row is not None:
                self._db.execute("UPDATE responses SET hits = hits + 1 WHERE key = ?", (key,))
        return None if row is None else (row[0], row[1])

    def _put(self, key: str, kind: str, meta: dict[str, Any], blob: bytes | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, kind, meta, blob, created, hits) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                (key, kind, _canonical(meta), blob, time.time()),
            )

    def delete(self, key: str) -> bool:
        """Forget one stored reply (a refreshed call whose new reply is not worth keeping)."""
        with self._lock:
            cur = self._db.execute("DELETE FROM responses WHERE key = ?", (key,))
        return bool(cur.rowcount)

    def stats(self) -> dict[str, Any]:
        """Entries, bytes and hits per kind (for ``intersyn models cache stats``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, COUNT(*), COALESCE(SUM(LENGTH(meta) + COALESCE(LENGTH(blob), 0)), 0),"
                " COALESCE(SUM(hits), 0) FROM responses GROUP BY kind"
            ).fetchall()
        kinds = {k: {"entries": n, "bytes": b, "hits": h} for k, n, b, h in rows}
        return {
            "path": str(self.path),
            "entries": sum(v["entries"] for v in kinds.values()),
            "kinds": kinds,
        }

    def clear(self, kind: str | None = None) -> int:
        """Delete every entry (or those of one kind); returns how many were deleted."""
        with self._lock:
            if kind is None:
                cur = self._db.execute("DELETE FROM responses")
            else:
                cur = self._db.execute("DELETE FROM responses WHERE kind = ?", (kind,))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(cur.rowcount)

    def close(self) -> None:
        with self._lock:
            self._db.close()
