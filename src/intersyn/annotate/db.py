"""The ratings database: one SQLite file in WAL mode, self-contained.

Everything the app shows is copied in at set-up (question, answer, caption, image bytes,
earlier turns), so the database can be moved or served without the dataset. Every submit is one
``BEGIN IMMEDIATE … COMMIT`` transaction with ``synchronous=FULL``: a server killed mid-submit
keeps every rating it acknowledged and never half of one.

Tables::

    meta(key, value)                    set-up: source, annotators, overlap, state, csrf secret
    images(sha256, mime, data)          image bytes, stored once per content
    items(id, sample_id, turn, …)       one row per turn; id is the dataset order (1-based)
    principals(name, role, token_hash)  annotators and the admin; tokens only as SHA-256
    assignments(annotator, position, item_id)   each annotator's queue (position 1-based)
    ratings(item_id, annotator, state, tcc, icc, iq, its, comment, flagged, edits, …)
                                        the current rating: one row per (item, annotator)
    history(id, item_id, annotator, action, …)  every submit, in order (the edit history)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from intersyn.errors import DatasetError, InputError
from intersyn.schema import DIMENSIONS, Rating

DB_VERSION = "1"
ADMIN = "@admin"
ANNOTATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images(
  sha256 TEXT PRIMARY KEY, mime TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  id INTEGER PRIMARY KEY,
  sample_id TEXT NOT NULL,
  turn INTEGER NOT NULL CHECK(turn >= 0),
  topic TEXT NOT NULL DEFAULT '',
  question TEXT NOT NULL,
  answer TEXT NOT NULL,
  caption TEXT NOT NULL,
  image_sha256 TEXT REFERENCES images(sha256),
  image_preview INTEGER NOT NULL DEFAULT 0,
  UNIQUE(sample_id, turn));
CREATE TABLE IF NOT EXISTS principals(
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK(role IN ('annotator', 'admin')),
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assignments(
  annotator TEXT NOT NULL REFERENCES principals(name),
  position INTEGER NOT NULL CHECK(position >= 1),
  item_id INTEGER NOT NULL REFERENCES items(id),
  PRIMARY KEY(annotator, position),
  UNIQUE(annotator, item_id));
CREATE TABLE IF NOT EXISTS ratings(
  item_id INTEGER NOT NULL REFERENCES items(id),
  annotator TEXT NOT NULL REFERENCES principals(name),
  state TEXT NOT NULL CHECK(state IN ('rated', 'skipped')),
  tcc INTEGER CHECK(tcc BETWEEN 0 AND 5),
  icc INTEGER CHECK(icc BETWEEN 0 AND 5),
  iq INTEGER CHECK(iq BETWEEN 0 AND 5),
  its INTEGER CHECK(its BETWEEN 0 AND 5),
  comment TEXT,
  flagged INTEGER NOT NULL DEFAULT 0,
  edits INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY(item_id, annotator),
  CHECK(state = 'skipped' OR (tcc IS NOT NULL AND icc IS NOT NULL
                              AND iq IS NOT NULL AND its IS NOT NULL)));
CREATE TABLE IF NOT EXISTS history(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  item_id INTEGER NOT NULL,
  annotator TEXT NOT NULL,
  action TEXT NOT NULL CHECK(action IN ('rate', 'skip')),
  tcc INTEGER, icc INTEGER, iq INTEGER, its INTEGER,
  comment TEXT,
  flagged INTEGER NOT NULL DEFAULT 0,
  at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_by_annotator ON history(annotator, id);
"""

Action = Literal["rate", "skip"]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def token_hash(token: str) -> str:
    """Tokens are stored only as their SHA-256 (they are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_annotator_names(names: Iterable[str]) -> list[str]:
    """Validate annotator names (letters, digits, ``_.-``; unique); return them as a list."""
    out = [n.strip() for n in names]
    for n in out:
        if not ANNOTATOR_NAME.match(n):
            raise InputError(
                f"annotator name {n!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-'"
                " (starting with a letter or digit), e.g. --annotators alice,bob"
            )
    if len(set(out)) != len(out):
        raise InputError(f"annotator names repeat in {out}; each name must be unique")
    return out


@dataclass(frozen=True)
class Principal:
    """Who a request speaks for: an annotator or the admin."""

    name: str
    role: Literal["annotator", "admin"]


@dataclass(frozen=True)
class NewItem:
    """One turn to copy into the database at set-up."""

    sample_id: str
    turn: int
    question: str
    answer: str
    caption: str
    image: bytes | None = None
    preview: bool = False
    topic: str = ""


@dataclass(frozen=True)
class Item:
    """One turn as stored: what an annotator rates."""

    id: int
    sample_id: str
    turn: int
    topic: str
    question: str
    answer: str
    caption: str
    image_sha256: str | None
    image_mime: str | None
    image_preview: bool


@dataclass(frozen=True)
class Submission:
    """A validated submit: ``rate`` carries four scores, ``skip`` none; either may flag."""

    action: Action
    scores: dict[str, int] | None = None
    comment: str | None = None
    flagged: bool = False


@dataclass(frozen=True)
class CurrentRating:
    """An annotator's current rating of one item."""

    item_id: int
    annotator: str
    state: Literal["rated", "skipped"]
    scores: dict[str, int] | None
    comment: str | None
    flagged: bool
    edits: int
    updated_at: str


@dataclass
class Progress:
    """How far one annotator is."""

    annotator: str
    assigned: int = 0
    rated: int = 0
    skipped: int = 0
    flagged: int = 0
    last_at: str | None = None
    remaining: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.remaining = self.assigned - self.rated - self.skipped


def sniff_mime(data: bytes) -> str:
    """The image type from its first bytes; anything else is never served as an image.

    SVG is deliberately not recognised: it can carry script.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class AnnotationDB:
    """The ratings database at ``path``; one SQLite connection per thread that uses it.

    >>> db = AnnotationDB(Path("ratings.sqlite"))        # doctest: +SKIP
    >>> db.submit("alice", 1, Submission("rate", {"tcc": 4, "icc": 3, "iq": 5, "its": 4}))
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []

    # -- connections ------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (opened once and kept: opening one per request re-reads the
        schema, and closing the last one checkpoints the WAL). Writes go through :meth:`write`."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        yield conn

    def _open(self) -> sqlite3.Connection:
        try:
            # Each connection is used by one thread only; close() may run on another at the end.
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise DatasetError(f"cannot open the ratings database {self.path}: {e}") from e
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            # FULL: a commit is on disk before the client hears "stored" (power-cut safe too).
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.DatabaseError as e:
            conn.close()
            raise DatasetError(
                f"{self.path} is not an intersyn ratings database ({e}); pass another --db"
            ) from e
        return conn

    def close(self) -> None:
        """Close every connection this object opened (call when no request is running)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back on any error.

        Writers of this process queue on a lock: SQLite's own busy handler would poll with
        growing sleeps, which shows up as long tails under concurrent submits. Other processes
        (``annotate links`` while serving) still wait through ``busy_timeout``.
        """
        with self._write_lock, self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # the connection is kept: never leave it mid-transaction
                    conn.execute("ROLLBACK")
                raise

    def create_schema(self) -> None:
        """Create the tables (idempotent) and switch the file to WAL mode."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            except sqlite3.DatabaseError as e:
                raise DatasetError(
                    f"{self.path} is not an intersyn ratings database ({e}); pass another --db"
                ) from e
            if tables and "meta" not in tables:  # someone else's database: never add to it
                raise DatasetError(
                    f"{self.path} is a SQLite database of something else (tables: "
                    f"{', '.join(sorted(tables)[:5])}); pass a new file or a ratings database "
                    "as --db. Nothing was changed."
                )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DatasetError(
                    f"{self.path}: SQLite refused WAL mode (got {mode!r}); put the database on a"
                    " local disk"
                )
            conn.executescript(_SCHEMA)
        if self.meta().get("db_version", DB_VERSION) != DB_VERSION:
            raise DatasetError(
                f"{self.path} was written by another intersyn version (db_version"
                f" {self.meta()['db_version']}); use a new --db"
            )

    # -- meta -------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        with self.connect() as conn:
            try:
                tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
                if not tables:
                    return {}  # an empty file: a new database
                rows = conn.execute("SELECT key, value FROM meta").fetchall()
            except sqlite3.DatabaseError as e:
                raise DatasetError(
                    f"{self.path} is not an intersyn ratings database ({e}); pass another --db"
                ) from e
        return {r["key"]: r["value"] for r in rows}

    def set_meta(self, conn: sqlite3.Connection, **values: str) -> None:
        conn.executemany(
            "INSERT INTO meta(key, value) VALUES(?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    def is_ready(self) -> bool:
        """True once set-up finished (items, queues and tokens all written)."""
        return self.meta().get("state") == "ready"

    def annotators(self) -> list[str]:
        return list(json.loads(self.meta().get("annotators", "[]")))

    # -- set-up -----------------------------------------------------------------------------
    def add_items(self, items: Iterable[NewItem], *, batch: int = 200) -> int:
        """Copy items in (idempotent: an item already there is kept). Returns items added."""
        added = 0
        chunk: list[NewItem] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= batch:
                added += self._insert_items(chunk)
                chunk = []
        if chunk:
            added += self._insert_items(chunk)
        return added

    def _insert_items(self, items: list[NewItem]) -> int:
        added = 0
        with self.write() as conn:
            for it in items:
                sha = None
                if it.image is not None:
                    sha = hashlib.sha256(it.image).hexdigest()
                    conn.execute(
                        "INSERT OR IGNORE INTO images(sha256, mime, data) VALUES(?, ?, ?)",
                        (sha, sniff_mime(it.image), it.image),
                    )
                cur = conn.execute(
                    "INSERT OR IGNORE INTO items(sample_id, turn, topic, question, answer, caption,"
                    " image_sha256, image_preview) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        it.sample_id,
                        it.turn,
                        it.topic,
                        it.question,
                        it.answer,
                        it.caption,
                        sha,
                        int(it.preview),
                    ),
                )
                added += cur.rowcount
        return added

    def sample_turns(self) -> list[tuple[str, int]]:
        """(sample_id, number of turns) in dataset order."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT sample_id, COUNT(*) AS n, MIN(id) AS first FROM items"
                " GROUP BY sample_id ORDER BY first"
            ).fetchall()
        return [(r["sample_id"], int(r["n"])) for r in rows]

    def finish_setup(
        self,
        queues: dict[str, list[tuple[str, int]]],
        tokens: dict[str, str],
        admin_token: str,
    ) -> None:
        """Write every queue and principal and mark the database ready, in one transaction."""
        now = utcnow()
        with self.write() as conn:
            state = conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
            if state is not None and state[0] == "ready":
                raise DatasetError(f"{self.path} was set up by another process meanwhile")
            ids = {
                (r["sample_id"], r["turn"]): r["id"]
                for r in conn.execute("SELECT id, sample_id, turn FROM items")
            }
            conn.execute(
                "INSERT INTO principals(name, role, token_hash, created_at) VALUES(?, 'admin', ?, ?)",
                (ADMIN, token_hash(admin_token), now),
            )
            for name, token in tokens.items():
                conn.execute(
                    "INSERT INTO principals(name, role, token_hash, created_at)"
                    " VALUES(?, 'annotator', ?, ?)",
                    (name, token_hash(token), now),
                )
            for name, queue in queues.items():
                conn.executemany(
                    "INSERT INTO assignments(annotator, position, item_id) VALUES(?, ?, ?)",
                    [(name, pos, ids[key]) for pos, key in enumerate(queue, start=1)],
                )
            self.set_meta(conn, state="ready", ready_at=now)

    # -- principals -------------------------------------------------------------------------
    def principal_for_token(self, token: str) -> Principal | None:
        """Who holds ``token``, or None for an unknown token."""
        if not token or len(token) > 256:
            return None
        with self.connect() as conn:
            row = conn.execute(
                "SELECT name, role FROM principals WHERE token_hash = ?", (token_hash(token),)
            ).fetchone()
        return Principal(row["name"], row["role"]) if row else None

    def set_tokens(self, tokens: dict[str, str]) -> None:
        """Replace the tokens of existing principals (old links stop working at once)."""
        with self.write() as conn:
            for name, token in tokens.items():
                cur = conn.execute(
                    "UPDATE principals SET token_hash = ? WHERE name = ?", (token_hash(token), name)
                )
                if cur.rowcount != 1:
                    raise InputError(
                        f"{self.path}: no annotator named {name!r}; known: {self.annotators()}"
                    )

    # -- an annotator's queue ---------------------------------------------------------------
    def queue_size(self, annotator: str) -> int:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM assignments WHERE annotator = ?", (annotator,)
            ).fetchone()
        return int(row[0])

    def item_at(self, annotator: str, position: int) -> Item | None:
        """The item at ``position`` of this annotator's queue, or None."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT i.*, im.mime AS image_mime FROM assignments a"
                " JOIN items i ON i.id = a.item_id"
                " LEFT JOIN images im ON im.sha256 = i.image_sha256"
                " WHERE a.annotator = ? AND a.position = ?",
                (annotator, position),
            ).fetchone()
        return _item(row) if row else None

    def earlier_turns(self, item: Item) -> list[Item]:
        """The turns of the same sample before ``item``, in order (the dialogue's context)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT i.*, im.mime AS image_mime FROM items i"
                " LEFT JOIN images im ON im.sha256 = i.image_sha256"
                " WHERE i.sample_id = ? AND i.turn < ? ORDER BY i.turn",
                (item.sample_id, item.turn),
            ).fetchall()
        return [_item(r) for r in rows]

    def image_for(self, annotator: str, position: int, turn: int) -> tuple[bytes, str] | None:
        """Image of turn ``turn`` of the sample at ``position`` in this annotator's queue.

        Only the item itself and its earlier turns are reachable: nothing else can be fetched.
        """
        with self.connect() as conn:
            row = conn.execute(
                "SELECT im.data, im.mime FROM assignments a"
                " JOIN items cur ON cur.id = a.item_id"
                " JOIN items i ON i.sample_id = cur.sample_id AND i.turn = ? AND i.turn <= cur.turn"
                " JOIN images im ON im.sha256 = i.image_sha256"
                " WHERE a.annotator = ? AND a.position = ?",
                (turn, annotator, position),
            ).fetchone()
        return (bytes(row["data"]), str(row["mime"])) if row else None

    def rating_of(self, annotator: str, item_id: int) -> CurrentRating | None:
        """This annotator's current rating of the item (never anyone else's)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM ratings WHERE item_id = ? AND annotator = ?", (item_id, annotator)
            ).fetchone()
        return _current(row) if row else None

    def submit(self, annotator: str, position: int, sub: Submission) -> CurrentRating:
        """Store a submit as the current rating and append it to the history: one transaction."""
        now = utcnow()
        scores = sub.scores or {}
        values = [scores.get(d) for d in DIMENSIONS]
        with self.write() as conn:
            row = conn.execute(
                "SELECT item_id FROM assignments WHERE annotator = ? AND position = ?",
                (annotator, position),
            ).fetchone()
            if row is None:
                raise LookupError(f"no item at position {position} for {annotator}")
            item_id = int(row[0])
            state = "rated" if sub.action == "rate" else "skipped"
            conn.execute(
                "INSERT INTO ratings(item_id, annotator, state, tcc, icc, iq, its, comment, flagged,"
                " edits, created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT(item_id, annotator) DO UPDATE SET state = excluded.state,"
                " tcc = excluded.tcc, icc = excluded.icc, iq = excluded.iq, its = excluded.its,"
                " comment = excluded.comment, flagged = excluded.flagged, edits = edits + 1,"
                " updated_at = excluded.updated_at",
                (item_id, annotator, state, *values, sub.comment, int(sub.flagged), now, now),
            )
            conn.execute(
                "INSERT INTO history(item_id, annotator, action, tcc, icc, iq, its, comment,"
                " flagged, at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, annotator, sub.action, *values, sub.comment, int(sub.flagged), now),
            )
            cur = conn.execute(
                "SELECT * FROM ratings WHERE item_id = ? AND annotator = ?", (item_id, annotator)
            ).fetchone()
        return _current(cur)

    def next_pending(self, annotator: str, after: int = 0) -> int | None:
        """The first position after ``after`` not yet rated or skipped (wrapping), or None."""
        sql = (
            "SELECT a.position FROM assignments a LEFT JOIN ratings r"
            " ON r.item_id = a.item_id AND r.annotator = a.annotator"
            " WHERE a.annotator = ? AND r.item_id IS NULL AND a.position > ?"
            " ORDER BY a.position LIMIT 1"
        )
        with self.connect() as conn:
            row = conn.execute(sql, (annotator, after)).fetchone()
            if row is None and after > 0:
                row = conn.execute(sql, (annotator, 0)).fetchone()
        return int(row[0]) if row else None

    def queue_states(self, annotator: str) -> list[dict[str, Any]]:
        """Each position of the queue with its item key and this annotator's state."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT a.position, i.sample_id, i.turn, r.state, COALESCE(r.flagged, 0) AS flagged"
                " FROM assignments a JOIN items i ON i.id = a.item_id LEFT JOIN ratings r"
                " ON r.item_id = a.item_id AND r.annotator = a.annotator"
                " WHERE a.annotator = ? ORDER BY a.position",
                (annotator,),
            ).fetchall()
        return [
            {
                "position": r["position"],
                "sample_id": r["sample_id"],
                "turn": r["turn"],
                "state": r["state"] or "pending",
                "flagged": bool(r["flagged"]),
            }
            for r in rows
        ]

    # -- progress and export ----------------------------------------------------------------
    def progress(self, annotator: str | None = None) -> list[Progress]:
        """Progress of every annotator (or just ``annotator``), in the order they were named."""
        where, args = ("WHERE a.annotator = ?", (annotator,)) if annotator else ("", ())
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT a.annotator,"
                " COUNT(*) AS assigned,"
                " SUM(r.state = 'rated') AS rated,"
                " SUM(r.state = 'skipped') AS skipped,"
                " SUM(COALESCE(r.flagged, 0)) AS flagged,"
                " MAX(r.updated_at) AS last_at"
                " FROM assignments a LEFT JOIN ratings r"
                f" ON r.item_id = a.item_id AND r.annotator = a.annotator {where}"
                " GROUP BY a.annotator",
                args,
            ).fetchall()
        by_name = {r["annotator"]: r for r in rows}
        names = [annotator] if annotator else self.annotators()
        return [_progress(name, by_name.get(name)) for name in names]

    def progress_of(self, annotator: str) -> Progress:
        return self.progress(annotator)[0]

    def item_count(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def ratings(self) -> list[Rating]:
        """Every current rating (state ``rated``) in the Rating schema, in dataset order."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT i.sample_id, i.turn, r.* FROM ratings r JOIN items i ON i.id = r.item_id"
                " WHERE r.state = 'rated' ORDER BY r.item_id, r.annotator"
            ).fetchall()
        return [
            Rating(
                sample_id=r["sample_id"],
                turn=r["turn"],
                annotator=r["annotator"],
                tcc=r["tcc"],
                icc=r["icc"],
                iq=r["iq"],
                its=r["its"],
                time=datetime.fromisoformat(r["updated_at"]),
                comment=r["comment"],
            )
            for r in rows
        ]

    def flags(self) -> list[dict[str, Any]]:
        """Every flagged item with the annotator's comment."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT i.sample_id, i.turn, r.annotator, r.state, r.comment, r.updated_at"
                " FROM ratings r JOIN items i ON i.id = r.item_id"
                " WHERE r.flagged = 1 ORDER BY r.item_id, r.annotator"
            ).fetchall()
        return [dict(r) for r in rows]

    def history(self) -> Iterator[dict[str, Any]]:
        """Every submit ever made, oldest first."""
        with self.connect() as conn:
            for r in conn.execute(
                "SELECT h.id, i.sample_id, i.turn, h.annotator, h.action, h.tcc, h.icc, h.iq,"
                " h.its, h.comment, h.flagged, h.at FROM history h"
                " JOIN items i ON i.id = h.item_id ORDER BY h.id"
            ):
                rec = dict(r)
                rec["flagged"] = bool(rec["flagged"])
                yield rec


def _progress(name: str, row: sqlite3.Row | None) -> Progress:
    if row is None:
        return Progress(annotator=name)
    return Progress(
        annotator=name,
        assigned=int(row["assigned"]),
        rated=int(row["rated"] or 0),
        skipped=int(row["skipped"] or 0),
        flagged=int(row["flagged"] or 0),
        last_at=row["last_at"],
    )


def _item(row: sqlite3.Row) -> Item:
    return Item(
        id=row["id"],
        sample_id=row["sample_id"],
        turn=row["turn"],
        topic=row["topic"],
        question=row["question"],
        answer=row["answer"],
        caption=row["caption"],
        image_sha256=row["image_sha256"],
        image_mime=row["image_mime"],
        image_preview=bool(row["image_preview"]),
    )


def _current(row: sqlite3.Row) -> CurrentRating:
    rated = row["state"] == "rated"
    return CurrentRating(
        item_id=row["item_id"],
        annotator=row["annotator"],
        state=row["state"],
        scores={d: int(row[d]) for d in DIMENSIONS} if rated else None,
        comment=row["comment"],
        flagged=bool(row["flagged"]),
        edits=int(row["edits"]),
        updated_at=row["updated_at"],
    )
