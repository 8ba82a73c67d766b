"""Small statistics shared by the summary and agreement: seeded percentile bootstrap."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Bootstrap resamples drawn per batch, so memory stays bounded for large inputs.
_BATCH_ELEMS = 4_000_000


def bootstrap_mean_ci(
    values: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean (resampling values); None for fewer than 2 values
    or no resamples."""
    n = len(values)
    if n < 2 or n_boot < 1:
        return None
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_boot, _BATCH_ELEMS // n))
    means: list[np.ndarray] = []
    left = n_boot
    while left > 0:
        b = min(batch, left)
        idx = rng.integers(0, n, size=(b, n))
        means.append(values[idx].mean(axis=1))
        left -= b
    alpha = (1 - level) / 2
    lo, hi = np.quantile(np.concatenate(means), [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_clusters(
    n_clusters: int,
    statistic: Callable[[np.ndarray], dict[str, float | None]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float] | None]:
    """Percentile CIs of several statistics, resampling clusters (items) with replacement.

    ``statistic(counts)`` gets how many times each cluster was drawn and returns named values
    (None where undefined, e.g. a correlation of a constant resample); those are left out of
    that statistic's percentiles.
    """
    if n_clusters < 2:
        return {}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
        for name, value in statistic(counts).items():
            lst = draws.setdefault(name, [])
            if value is not None and np.isfinite(value):
                lst.append(value)
    alpha = (1 - level) / 2
    out: dict[str, tuple[float, float] | None] = {}
    for name, vals in draws.items():
        if len(vals) < max(10, n_boot // 2):
            out[name] = None  # undefined in most resamples: no honest interval
        else:
            lo, hi = np.quantile(np.asarray(vals), [alpha, 1 - alpha])
            out[name] = (float(lo), float(hi))
    return out
