"""Setting up a ratings database from a dataset, and issuing annotators' links.

Set-up is resumable: items are copied in batches (idempotent), and queues, tokens and the
``ready`` mark are written in one last transaction. A set-up killed half-way is finished by the
next ``serve``; a finished one is never redone, so ratings are never touched by a restart.

>>> links = prepare(AnnotationDB(Path("r.sqlite")), Path("runs/a"), ["alice", "bob"], 2)  # doctest: +SKIP
>>> links.urls("http://127.0.0.1:8765")["alice"]                                          # doctest: +SKIP
'http://127.0.0.1:8765/login?t=…'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from intersyn.annotate.assignment import assign
from intersyn.annotate.auth import new_secret, new_token
from intersyn.annotate.db import ADMIN, DB_VERSION, AnnotationDB, check_annotator_names, utcnow
from intersyn.annotate.source import read_items, resolve_input
from intersyn.errors import InputError


@dataclass(frozen=True)
class Links:
    """Freshly issued tokens: shown once, stored only hashed."""

    tokens: dict[str, str]
    admin: str | None = None

    def urls(self, base_url: str) -> dict[str, str]:
        """Personal login links per annotator (and ``@admin``) under ``base_url``."""
        base = base_url.rstrip("/")
        out = {name: f"{base}/login?t={token}" for name, token in self.tokens.items()}
        if self.admin is not None:
            out[ADMIN] = f"{base}/login?t={self.admin}"
        return out


def prepare(
    db: AnnotationDB,
    source: Path | None,
    annotators: list[str] | None,
    overlap: int | None = None,
    *,
    limit: int | None = None,
) -> Links | None:
    """Make ``db`` ready to serve; return the new links, or None when it was already ready.

    A new database needs ``source`` and ``annotators``; ``overlap`` (default 2) is how many
    annotators rate each item. Given again for a database that exists, they must match what it
    was created with.
    """
    meta = db.meta()
    if meta.get("state") == "ready":
        _check_same(db, meta, source, annotators, overlap, limit)
        return None
    if not meta or (source is not None and db.item_count() == 0):
        # New, or a set-up that stopped before copying anything (an unreadable INPUT, say):
        # start over with what was given now.
        if meta:  # what was not given again is kept from the first try
            annotators = annotators or json.loads(meta.get("annotators", "[]"))
            overlap = overlap if overlap is not None else int(meta.get("overlap") or 2)
            limit = (
                limit if limit is not None else (int(meta["limit"]) if meta.get("limit") else None)
            )
        meta = _start(db, source, annotators, overlap, limit)
    else:
        _check_same(db, meta, source, annotators, overlap, limit, ready=False)
    names = list(json.loads(meta["annotators"]))
    lim = int(meta["limit"]) if meta.get("limit") else None
    db.add_items(read_items(Path(meta["source"]), limit=lim))
    if db.item_count() == 0:
        raise InputError(f"{meta['source']}: the dataset has no samples to rate")
    queues = assign(db.sample_turns(), names, int(meta["overlap"]))
    links = Links(tokens={n: new_token() for n in names}, admin=new_token())
    db.finish_setup(queues, links.tokens, links.admin or "")
    return links


def _start(
    db: AnnotationDB,
    source: Path | None,
    annotators: list[str] | None,
    overlap: int | None,
    limit: int | None,
) -> dict[str, str]:
    if source is None:
        raise InputError(f"{db.path} does not exist yet: pass the dataset to rate (INPUT)")
    if not annotators:
        raise InputError(f"{db.path} is new: name the annotators, e.g. --annotators alice,bob")
    names = check_annotator_names(annotators)
    r = 2 if overlap is None else overlap
    if r < 1:
        raise InputError(f"--overlap must be at least 1, got {r}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    if not Path(source).exists():
        raise InputError(f"{source}: no such dataset; pass a run directory or a dataset path")
    dataset = resolve_input(Path(source))
    db.create_schema()
    values = {
        "db_version": DB_VERSION,
        "source": str(dataset.resolve()),
        "annotators": json.dumps(names),
        "overlap": str(r),
        "limit": "" if limit is None else str(limit),
        "csrf_secret": new_secret(),
        "state": "importing",
        "created_at": utcnow(),
    }
    with db.write() as conn:
        db.set_meta(conn, **values)
    return values


def _check_same(
    db: AnnotationDB,
    meta: dict[str, str],
    source: Path | None,
    annotators: list[str] | None,
    overlap: int | None,
    limit: int | None,
    *,
    ready: bool = True,
) -> None:
    """A database keeps the set-up it was made with; refuse a silently different one."""
    if source is not None and str(resolve_input(Path(source)).resolve()) != meta.get("source"):
        if not ready:
            raise InputError(
                f"{db.path}: set-up from {meta.get('source')} stopped half-way; start again with"
                f" that INPUT (or without INPUT) to finish it, or delete {db.path} to start over"
            )
        raise InputError(
            f"{db.path} was set up from {meta.get('source')}, not {source}; start without INPUT"
            " to keep rating it, or pass a new --db"
        )
    if annotators and list(annotators) != json.loads(meta.get("annotators", "[]")):
        raise InputError(
            f"{db.path} was set up for annotators {','.join(json.loads(meta['annotators']))};"
            " start without --annotators to keep them, or pass a new --db"
        )
    if overlap is not None and str(overlap) != meta.get("overlap"):
        raise InputError(
            f"{db.path} was set up with --overlap {meta.get('overlap')}; start without"
            " --overlap, or pass a new --db"
        )
    if limit is not None and str(limit) != meta.get("limit"):
        raise InputError(
            f"{db.path} was set up with --limit {meta.get('limit') or 'none'}; start without"
            " --limit, or pass a new --db"
        )


def rotate_links(db: AnnotationDB, names: list[str] | None = None, *, admin: bool = True) -> Links:
    """Issue new tokens for ``names`` (default: every annotator) and, if ``admin``, the admin.

    Old links of those principals stop working at once; everyone else keeps theirs.
    """
    if not db.is_ready():
        raise InputError(f"{db.path} is not set up yet: run `intersyn annotate serve INPUT` first")
    chosen = db.annotators() if names is None else check_annotator_names(names)
    links = Links(tokens={n: new_token() for n in chosen}, admin=new_token() if admin else None)
    fresh = dict(links.tokens)
    if links.admin is not None:
        fresh[ADMIN] = links.admin
    db.set_tokens(fresh)
    return links


def ready_db(path: Path) -> AnnotationDB:
    """The ratings database at ``path``, which must exist and be set up."""
    db = AnnotationDB(Path(path))
    if not db.path.exists():
        raise InputError(
            f"{path}: no such ratings database; create it with"
            f" `intersyn annotate serve INPUT --db {path} --annotators a,b`"
        )
    if not db.is_ready():
        raise InputError(
            f"{path}: set-up did not finish; run `intersyn annotate serve --db {path}` to finish it"
        )
    return db
