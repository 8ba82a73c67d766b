"""Where the report area reads other areas' data: datasets and judgements.

The one place that calls :func:`intersyn.data.dataset.open_dataset` and
:func:`intersyn.judge.store.load_judgements`, so the viewer, the report and the benchmark
all read data the same way. Until the data module lands, a run directory is read through
:class:`~intersyn.data.store.RunStore` (the same records ``open_dataset`` reads).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from intersyn.errors import InputError
from intersyn.schema import DIMENSIONS, ImageRef, Judgement, Sample


class DatasetLike(Protocol):
    """What the report needs of a dataset (the planned ``open_dataset`` API)."""

    def samples(self) -> Iterator[Sample]: ...

    def image_bytes(self, sample: Sample, turn_index: int) -> bytes | None: ...

    def read_image(self, ref: ImageRef) -> bytes: ...


@dataclass
class Failure:
    """A sample that never finished: only its id and reason are known."""

    id: str
    error: str
    info: dict[str, Any] = field(default_factory=dict)


class _RunDirDataset:
    """A run directory read through RunStore (used only while open_dataset is missing)."""

    def __init__(self, root: Path) -> None:
        from intersyn.data.store import RunStore, safe_join

        self.root = root
        self._store = RunStore(root, fsync=False)
        self._safe_join = safe_join

    def samples(self) -> Iterator[Sample]:
        return self._store.iter_samples()

    def __len__(self) -> int:
        return len(self._store.done_ids())

    def read_image(self, ref: ImageRef) -> bytes:
        return self._safe_join(self.root, ref.path).read_bytes()

    def image_bytes(self, sample: Sample, turn_index: int) -> bytes | None:
        image = sample.turns[turn_index].image
        if image is None:
            return None
        try:
            return self.read_image(image)
        except FileNotFoundError:
            return None


def open_samples(path: str | Path) -> DatasetLike:
    """Open a dataset (run directory, intersyn Parquet dataset, Hub-layout parquet)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: dataset not found; give a run directory or a Parquet dataset")
    try:
        dataset_mod = importlib.import_module("intersyn.data.dataset")
    except ModuleNotFoundError:
        dataset_mod = None
    if dataset_mod is not None:
        ds: DatasetLike = dataset_mod.open_dataset(p)
        return ds
    if p.is_dir() and (p / "samples").is_dir():
        return _RunDirDataset(p)
    raise InputError(f"{p}: not a run directory (no samples/ folder)")


def failures_of(path: str | Path) -> list[Failure]:
    """Samples of a run directory that failed with a reason (empty for other datasets)."""
    p = Path(path)
    if not (p.is_dir() and (p / "failed").is_dir()):
        return []
    from intersyn.data.journal import Journal

    done: set[str] = set()
    if (p / "samples").is_dir():
        done = {
            r["id"]
            for r in Journal(p / "samples", "samples").read()
            if isinstance(r.get("id"), str)
        }
    latest: dict[str, dict[str, Any]] = {}
    for rec in Journal(p / "failed", "failed").read():
        sid = rec.get("id")
        if isinstance(sid, str) and sid not in done:
            latest[sid] = rec
    return [
        Failure(
            id=sid,
            error=str(rec.get("error", "")),
            info={k: v for k, v in rec.items() if k not in ("id", "error")},
        )
        for sid, rec in sorted(latest.items())
    ]


JudgementsArg = str | Path | Iterable[Judgement] | None


def load_judgement_list(judgements: JudgementsArg) -> list[Judgement]:
    """Judgements from a judge out dir / set dir (``load_judgements``) or given directly."""
    if judgements is None:
        return []
    if isinstance(judgements, str | Path):
        p = Path(judgements)
        if not p.exists():
            raise InputError(f"{p}: judgements not found; give a `intersyn judge` output folder")
        from intersyn.judge.store import load_judgements

        return list(load_judgements(p))
    return list(judgements)


def summarize_judgements(judgements: list[Judgement], samples: Any = None) -> dict[str, Any]:
    """The judge's own summary (means, CIs, n, n unparsed, breakdowns)."""
    from intersyn.judge.summary import summarize

    return dict(summarize(judgements, samples=samples))


def turn_overall(j: Judgement) -> float | None:
    """Mean of a judged turn's four scores, None unless all four are present."""
    scores = [getattr(j, d) for d in DIMENSIONS]
    if j.status != "ok" or any(s is None for s in scores):
        return None
    return sum(scores) / len(scores)
