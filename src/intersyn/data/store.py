"""The run directory: where SEIR (and the judge) make work durable, and how a run resumes.

Layout of a run directory::

    run.json                 run metadata (config fingerprint, seed, created)
    samples/samples-*.jsonl  one finished Sample per line (journal; durable before counted)
    failed/failed-*.jsonl    {"id", "error", "seed", ...} for samples that failed with a reason
    images/<id-prefix>/<id>/<name>.png   every image, written atomically
    data/                    Parquet shards written by ``finalize`` (see intersyn.data.parquet)

Example::

    store = RunStore(Path("runs/a"))
    ref = store.put_image("s000001", "t0_r1", png_bytes, seed=7)
    store.commit(sample)               # durable when this returns
    store.done_ids()                   # {"s000001", ...} — what --resume skips
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from intersyn.data.images import decode_image, image_header
from intersyn.data.journal import Journal, atomic_write_bytes
from intersyn.errors import DatasetError, UnsafePathError
from intersyn.schema import ImageRef, Sample


def safe_join(root: Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root``; refuse anything that escapes it.

    Refused: absolute paths, ``..`` components, and symlinks whose target lies outside root.
    """
    if (
        not relative
        or relative.startswith(("/", "\\"))
        or (len(relative) > 1 and relative[1] == ":")
    ):
        raise UnsafePathError(
            f"image path {relative!r} is absolute; paths must be relative to {root}"
        )
    parts = Path(relative.replace("\\", "/")).parts
    if ".." in parts:
        raise UnsafePathError(f"image path {relative!r} escapes the dataset root {root} ('..')")
    root_resolved = root.resolve()
    full = (root / Path(*parts)).resolve()
    if full != root_resolved and root_resolved not in full.parents:
        raise UnsafePathError(
            f"image path {relative!r} resolves outside the dataset root {root} (a symlink out?)"
        )
    return full


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of an encoded image (header only, within the pixel limit)."""
    return image_header(data).size


def image_info(data: bytes, *, where: str = "image") -> tuple[int, int, str]:
    """(width, height, file extension) of a decodable image
    (:func:`intersyn.data.images.decode_image`); an InputError says why it is not one."""
    info = decode_image(data, where)
    return info.width, info.height, info.ext


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "_"


class RunStore:
    """A run directory, opened for writing and resuming. One instance per writer process."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        #: False only for throwaway runs (benchmarks): writes stay atomic, not power-cut safe.
        self.fsync = fsync
        self._samples = Journal(self.root / "samples", "samples", fsync=fsync)
        self._failed = Journal(self.root / "failed", "failed", fsync=fsync)

    # -- metadata ---------------------------------------------------------------------------
    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_bytes(self.root / "run.json", json.dumps(meta, indent=2, default=str).encode())

    def read_meta(self) -> dict[str, Any]:
        p = self.root / "run.json"
        if not p.exists():
            return {}
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise DatasetError(
                f"{p}: not readable JSON ({e}); restore it from a backup, or choose another --out"
            ) from None
        if not isinstance(meta, dict):
            raise DatasetError(f"{p}: not a run.json (a JSON {type(meta).__name__})")
        return meta

    # -- writing ----------------------------------------------------------------------------
    def image_path(self, sample_id: str, name: str, ext: str = "png") -> str:
        """Where an image of a sample lives, relative to the root (never escapes it)."""
        digest = hashlib.sha1(sample_id.encode()).hexdigest()
        prefix = digest[:2]
        safe_id = _safe_name(sample_id)
        if safe_id != sample_id:  # two ids must never share a folder after cleaning
            safe_id = f"{safe_id}-{digest[:10]}"
        return f"images/{prefix}/{safe_id}/{_safe_name(name)}.{_safe_name(ext)}"

    def put_image(
        self,
        sample_id: str,
        name: str,
        data: bytes,
        *,
        seed: int | None = None,
        preview: bool = False,
        painter: str | None = None,
        ext: str | None = None,
    ) -> ImageRef:
        """Write an image atomically and return its reference (path relative to the root).

        The bytes are stored as given (never re-encoded); ``ext`` defaults to the image's
        own format (``png``, ``jpg``, ``webp``…). Bytes that are not an image are refused.
        """
        w, h, fmt = image_info(data, where=f"sample {sample_id}, image {name!r}")
        rel = self.image_path(sample_id, name, ext or fmt)
        atomic_write_bytes(self.root / rel, data, fsync=self.fsync)
        return ImageRef(
            path=rel,
            sha256=hashlib.sha256(data).hexdigest(),
            width=w,
            height=h,
            seed=seed,
            preview=preview,
            painter=painter,
        )

    def commit(self, sample: Sample) -> None:
        """Make a finished sample durable; only then may it be counted.

        Thread-safe: commits from several threads at once share one fsync (group commit).
        """
        if sample.status != "ok":
            raise DatasetError(f"sample {sample.id}: commit() takes finished samples; use fail()")
        self._samples.append(sample.model_dump(mode="json"))

    def commit_many(self, samples: list[Sample]) -> None:
        """Make several finished samples durable with one write and one fsync."""
        for sample in samples:
            if sample.status != "ok":
                raise DatasetError(
                    f"sample {sample.id}: commit_many() takes finished samples; use fail()"
                )
        self._samples.append_many(s.model_dump(mode="json") for s in samples)

    def fail(self, sample_id: str, error: str, **info: Any) -> None:
        """Record a sample that failed, with its reason (``--retry-failed`` runs it again)."""
        self._failed.append({"id": sample_id, "error": error, **info})

    def close(self) -> None:
        self._samples.close()
        self._failed.close()

    # -- reading / resume -------------------------------------------------------------------
    def iter_samples(self) -> Iterator[Sample]:
        """Every committed sample once (the first record of an id wins)."""
        seen: set[str] = set()
        for rec in self._samples.read():
            sid = rec.get("id")
            if not isinstance(sid, str) or sid in seen:
                continue
            seen.add(sid)
            yield Sample.model_validate(rec)

    def done_ids(self) -> set[str]:
        return {r["id"] for r in self._samples.read() if isinstance(r.get("id"), str)}

    def failures(self) -> dict[str, dict[str, Any]]:
        """Latest failure record per id, for ids that never finished."""
        done = self.done_ids()
        out: dict[str, dict[str, Any]] = {}
        for rec in self._failed.read():
            sid = rec.get("id")
            if isinstance(sid, str) and sid not in done:
                out[sid] = rec
        return out
