"""Charts for leaderboards and reports (matplotlib, Agg backend), written as PNG and SVG."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; safe in servers and tests
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from intersyn.schema import DIMENSIONS

LABELS = [d.upper() for d in DIMENSIONS]


def save(fig: Figure, out_dir: Path, stem: str) -> dict[str, str]:
    """Write ``stem.png`` and ``stem.svg``; returns their file names by format."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for fmt in ("png", "svg"):
        name = f"{stem}.{fmt}"
        # A fixed date keeps SVG output identical between runs.
        metadata = {"Date": None} if fmt == "svg" else {"Software": "intersyn"}
        fig.savefig(out_dir / name, format=fmt, dpi=110, bbox_inches="tight", metadata=metadata)
        files[fmt] = name
    plt.close(fig)
    return files


def radar_chart(
    means: Mapping[str, Sequence[float | None]], out_dir: Path, stem: str = "radar"
) -> dict[str, str]:
    """One polygon per generator over the four dimensions (scale 0–5)."""
    angles = [2 * math.pi * i / len(DIMENSIONS) for i in range(len(DIMENSIONS))]
    fig = plt.figure(figsize=(5.2, 5.2))
    ax = fig.add_subplot(projection="polar")
    for name, values in means.items():
        vals = [v if v is not None else 0.0 for v in values]
        ax.plot([*angles, angles[0]], [*vals, vals[0]], linewidth=1.6, label=name)
        ax.fill([*angles, angles[0]], [*vals, vals[0]], alpha=0.12)
    ax.set_xticks(angles)
    ax.set_xticklabels(LABELS)
    ax.set_ylim(0, 5)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.12), fontsize=8)
    ax.set_title("mean score per dimension", fontsize=10)
    return save(fig, out_dir, stem)


def bar_chart(
    means: Mapping[str, Sequence[float | None]],
    cis: Mapping[str, Sequence[tuple[float, float] | None]],
    out_dir: Path,
    stem: str = "bars",
) -> dict[str, str]:
    """Grouped bars: dimension × generator, with 95% CI error bars."""
    names = list(means)
    n = max(1, len(names))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(LABELS) + 0.4 * n), 3.8))
    for i, name in enumerate(names):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(LABELS))]
        vals = [v if v is not None else 0.0 for v in means[name]]
        lower, upper = [], []
        for v, ci in zip(vals, cis.get(name, [None] * len(LABELS)), strict=False):
            lower.append(max(0.0, v - ci[0]) if ci else 0.0)
            upper.append(max(0.0, ci[1] - v) if ci else 0.0)
        ax.bar(xs, vals, width, yerr=[lower, upper], capsize=3, label=name)
    ax.set_xticks(range(len(LABELS)))
    ax.set_xticklabels(LABELS)
    ax.set_ylim(0, 5.3)
    ax.set_ylabel("mean score (95% CI)")
    ax.legend(fontsize=8, ncol=min(n, 4), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save(fig, out_dir, stem)


def distribution_chart(
    counts: Mapping[str, Sequence[int]], out_dir: Path, stem: str = "distribution"
) -> dict[str, str]:
    """Histogram of scores 0–5 per dimension (``counts[dim][score]``)."""
    fig, axes = plt.subplots(1, len(DIMENSIONS), figsize=(11, 2.6), sharey=True)
    for ax, dim in zip(axes, DIMENSIONS, strict=True):
        ax.bar(range(6), list(counts.get(dim, [0] * 6)), color="#2d5fa8")
        ax.set_title(dim.upper(), fontsize=10)
        ax.set_xticks(range(6))
    axes[0].set_ylabel("turns")
    return save(fig, out_dir, stem)
