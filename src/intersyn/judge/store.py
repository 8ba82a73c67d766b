"""Judgement sets on disk: durable, resumable, never mixed.

A judge output directory holds one folder per *judgement set*; a set is everything judged by
one judge model under one rubric version, in one mode (vision or caption-proxy), with one
number of draws per turn. Running a different judge or rubric into the same output directory
makes a new set beside the old one::

    OUT/judgements/<set key>/set.json                  what the set is (model, rubric, mode, k)
    OUT/judgements/<set key>/parts/judgements-*.jsonl   one Judgement per line, appended as
                                                        each turn finishes (fsync'ed)
    OUT/judgements/<set key>/summary.json              written by ``intersyn judge`` at the end

A rerun skips every (sample id, turn) already judged ``ok`` or ``unparsed``; turns whose call
failed (``error``) are tried again, and the newer record wins when read back.

>>> js = load_judgements("runs/a-judged")          # doctest: +SKIP
>>> for j in iter_judgements("runs/a-judged"): ...  # doctest: +SKIP  (streamed, every record)
>>> with JudgementIndex(iter_judgements("runs/a-judged")) as index:   # doctest: +SKIP
...     index.for_sample("s000001")                  # {turn: Judgement}, from SQLite on disk

Reading a set for a large dataset: :func:`iter_judgements` streams the records, and
:class:`JudgementIndex` keeps one judgement per (sample id, turn) in a temporary SQLite file,
so memory stays flat however many turns were judged.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intersyn.data.journal import Journal, atomic_write_text, read_jsonl_tolerant
from intersyn.errors import ConfigError, InputError
from intersyn.schema import Judgement, TopicPath

SETS_DIR = "judgements"


@dataclass
class SetInfo:
    """What makes a judgement set: records made under different infos are never mixed."""

    judge_model: str
    rubric: str  # "id@version"
    mode: str
    samples: int = 1
    rubric_sha256: str = ""
    input: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    #: A user's judge prompt file, ``name@sha`` ("" for the shipped prompts).
    prompt: str = ""
    #: Where the judgements came from when they were not made by ``intersyn judge`` (an
    #: imported score file); "" for a judge run.
    imported_from: str = ""

    @property
    def key(self) -> str:
        """A readable, filesystem-safe folder name, unique per (model, rubric, mode, k, and the
        user's prompt file if any)."""
        ident = json.dumps([self.judge_model, self.rubric, self.mode, self.samples])
        if self.prompt:  # only then: the keys of sets made with the shipped prompts stay put
            ident = json.dumps(
                [self.judge_model, self.rubric, self.mode, self.samples, self.prompt]
            )
        digest = hashlib.sha256(ident.encode()).hexdigest()[:8]
        model = re.sub(r"[^A-Za-z0-9._-]+", "_", self.judge_model).strip("_")[-40:] or "judge"
        rubric = re.sub(r"[^A-Za-z0-9._-]+", "_", self.rubric)
        k = f"-k{self.samples}" if self.samples > 1 else ""
        return f"{model}--{rubric}--{self.mode}{k}--{digest}"


@dataclass
class JudgementSet:
    """A judgement set read back: its info, one judgement per (sample id, turn), topics."""

    path: Path
    info: SetInfo | None
    judgements: list[Judgement]
    topics: dict[str, TopicPath]


class JudgementStore:
    """Opens (or creates) the set for ``info`` under ``out_dir`` for appending and resuming."""

    def __init__(self, out_dir: Path, info: SetInfo, *, fsync: bool = True) -> None:
        self.root = Path(out_dir) / SETS_DIR / info.key
        self.info = info
        self._check_or_write_info()
        self._journal = Journal(self.root / "parts", "judgements", fsync=fsync)

    def _check_or_write_info(self) -> None:
        meta = self.root / "set.json"
        if meta.exists():
            sha = _read_info(meta).rubric_sha256
            if sha and self.info.rubric_sha256 and sha != self.info.rubric_sha256:
                raise ConfigError(
                    f"{self.root}: the rubric text changed but its version is still "
                    f"{self.info.rubric!r}; bump `version` in the rubric file so the new "
                    "judgements form their own set"
                )
            return
        atomic_write_text(meta, json.dumps(asdict(self.info), indent=2))

    def done(self) -> set[tuple[str, int]]:
        """(sample id, turn) pairs a rerun skips: judged ok or unparsed."""
        out: set[tuple[str, int]] = set()
        for rec in self._journal.read():
            if rec.get("status") in ("ok", "unparsed"):
                out.add((str(rec.get("sample_id")), int(rec.get("turn", 0))))
        return out

    def append(self, judgement: Judgement, topic: TopicPath | None = None) -> None:
        """Durable when this returns."""
        rec: dict[str, Any] = judgement.model_dump(mode="json")
        if topic is not None:
            rec["topic"] = topic.model_dump()
        self._journal.append(rec)

    def close(self) -> None:
        self._journal.close()


def find_sets(path: Path) -> list[Path]:
    """The judgement-set folders at ``path`` (a set folder, or a judge output directory)."""
    if (path / "set.json").exists() or (path / "parts").is_dir():
        return [path]
    root = path / SETS_DIR
    if root.is_dir():
        return sorted(p for p in root.iterdir() if (p / "set.json").exists())
    return []


def _resolve(path: str | Path) -> tuple[Path, SetInfo | None, list[Path]]:
    """(set folder or file, its info, the JSONL files holding its records)."""
    p = Path(path)
    if p.is_file():
        return p, None, [p]
    if not p.exists():
        raise InputError(f"{p}: no such judgement set or judge output directory")
    sets = find_sets(p)
    if not sets:
        raise InputError(f"{p}: holds no judgement set (expected {SETS_DIR}/<set>/set.json)")
    if len(sets) > 1:
        names = "\n  ".join(str(s) for s in sets)
        raise InputError(f"{p}: holds {len(sets)} judgement sets; name one of:\n  {names}")
    s = sets[0]
    info = _read_info(s / "set.json") if (s / "set.json").exists() else None
    files = sorted((s / "parts").glob("judgements-*.jsonl")) if (s / "parts").is_dir() else []
    return s, info, files


def _read_info(meta: Path) -> SetInfo:
    """A set's ``set.json``; a damaged one is an error naming it (never a traceback)."""
    try:
        return SetInfo(**json.loads(meta.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:
        raise InputError(
            f"{meta}: not a readable judgement-set description ({e}); it records the judge "
            "model, rubric and mode of the set — restore it, or judge into a new --out"
        ) from None


def load_set(path: str | Path) -> JudgementSet:
    """Read one judgement set: a set folder, a judge output holding one set, or a JSONL file."""
    where, info, files = _resolve(path)
    latest: dict[tuple[str, int], Judgement] = {}
    topics: dict[str, TopicPath] = {}
    for j, topic in _stream(files, where):
        key = (j.sample_id, j.turn)
        if prefer(latest.get(key), j):
            latest[key] = j
        if topic is not None:
            topics[j.sample_id] = topic
    return JudgementSet(where, info, list(latest.values()), topics)


def load_judgements(path: str | Path) -> list[Judgement]:
    """Every judgement of a set, one per (sample id, turn); see :func:`load_set`."""
    return load_set(path).judgements


def iter_judgements(path: str | Path) -> Iterator[Judgement]:
    """Every judgement record of a set, streamed in the order written (one in memory at a
    time); ``path`` is resolved as by :func:`load_set`.

    A turn judged again (a rerun after an error) appears once per record: :func:`prefer`
    says which one counts, and :class:`JudgementIndex` applies it on disk.
    """
    where, _, files = _resolve(path)
    for j, _topic in _stream(files, where):
        yield j


def prefer(old: Judgement | None, new: Judgement) -> bool:
    """Whether ``new`` replaces ``old`` for the same turn: the newer record wins, except
    that an error never replaces a real judgement."""
    return old is None or new.status != "error" or old.status == "error"


def _stream(files: Iterable[Path], where: Path) -> Iterator[tuple[Judgement, TopicPath | None]]:
    n = 0
    for f in files:
        for rec in read_jsonl_tolerant(f):
            n += 1
            topic = rec.pop("topic", None)
            try:
                j = Judgement.model_validate(rec)
            except ValidationError as e:
                first = e.errors()[0]
                loc = ".".join(str(x) for x in first["loc"])
                raise InputError(
                    f"{where}: record {n} is not a judgement ({loc}: {first['msg']})"
                ) from None
            yield j, TopicPath.model_validate(topic) if isinstance(topic, dict) else None


class JudgementIndex:
    """One judgement per (sample id, turn), kept in a temporary SQLite file, not in memory.

    Built from any stream of judgements (:func:`iter_judgements`, a list); later records
    replace earlier ones as :func:`prefer` says. The file is removed by :meth:`close`.

    >>> with JudgementIndex(iter_judgements("runs/a-judged")) as index:  # doctest: +SKIP
    ...     index.for_sample("s1")                                        # {0: Judgement}
    """

    _BATCH = 2000

    def __init__(self, judgements: Iterable[Judgement], *, folder: Path | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="intersyn-judgements-", dir=folder))
        self._db = sqlite3.connect(self._dir / "index.sqlite")
        # A scratch index: nothing to recover after a crash, so no journal and no fsync.
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8192;"
            "CREATE TABLE j (sample_id TEXT NOT NULL, turn INTEGER NOT NULL, "
            "status TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (sample_id, turn))"
            " WITHOUT ROWID;"
        )
        self.count = 0
        try:
            self._load(judgements)
        except BaseException:
            self.close()
            raise

    def _load(self, judgements: Iterable[Judgement]) -> None:
        sql = (
            "INSERT INTO j VALUES (?, ?, ?, ?) ON CONFLICT (sample_id, turn) DO UPDATE SET "
            "status = excluded.status, body = excluded.body "
            "WHERE excluded.status != 'error' OR j.status = 'error'"
        )
        batch: list[tuple[str, int, str, str]] = []
        for j in judgements:
            batch.append((j.sample_id, j.turn, j.status, j.model_dump_json()))
            if len(batch) >= self._BATCH:
                self._db.executemany(sql, batch)
                batch.clear()
        if batch:
            self._db.executemany(sql, batch)
        self._db.commit()
        self.count = self._db.execute("SELECT count(*) FROM j").fetchone()[0]

    def __len__(self) -> int:
        return self.count

    def for_sample(self, sample_id: str) -> dict[int, Judgement]:
        """The judgements of one sample by turn (empty when it was not judged)."""
        rows = self._db.execute("SELECT turn, body FROM j WHERE sample_id = ?", (sample_id,))
        return {turn: Judgement.model_validate_json(body) for turn, body in rows}

    def close(self) -> None:
        """Drop the index and its file."""
        try:
            self._db.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> JudgementIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
