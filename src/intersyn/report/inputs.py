"""Where the report area reads other areas' data: datasets and judgements.

The one place that calls :func:`intersyn.data.dataset.open_dataset` and
:func:`intersyn.judge.store.load_judgements`, so the viewer, the report and the benchmark
all read data the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intersyn.data.dataset import Dataset, open_dataset
from intersyn.errors import InputError
from intersyn.schema import DIMENSIONS, Judgement


@dataclass
class Failure:
    """A sample that never finished: only its id and reason are known."""

    id: str
    error: str
    info: dict[str, Any] = field(default_factory=dict)


def open_samples(path: str | Path, *, image_root: str | Path | None = None) -> Dataset:
    """Open a dataset (run directory, intersyn Parquet dataset, Hub-layout parquet, answers
    JSONL with its images under ``image_root``, default its folder)."""
    return open_dataset(path, image_root=image_root)


def failures_of(dataset: Dataset) -> list[Failure]:
    """Samples that failed with a reason and never finished (run directories only)."""
    return [
        Failure(
            id=sid,
            error=str(rec.get("error", "")),
            info={k: v for k, v in rec.items() if k not in ("id", "error")},
        )
        for sid, rec in sorted(dataset.failures().items())
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


def iter_judgement_arg(judgements: JudgementsArg) -> Iterable[Judgement]:
    """Judgements streamed from a judge out dir / set dir / JSONL (``iter_judgements``: every
    record, in write order), or the ones given; nothing for None."""
    if judgements is None:
        return []
    if isinstance(judgements, str | Path):
        p = Path(judgements)
        if not p.exists():
            raise InputError(f"{p}: judgements not found; give a `intersyn judge` output folder")
        from intersyn.judge.store import iter_judgements

        return iter_judgements(p)
    return judgements


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
