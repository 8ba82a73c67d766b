"""Bar charts of agreement: RMSE and A@1 per dimension per judge, as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from intersyn.schema import DIMENSIONS


def plot_agreement(
    result: dict[str, Any], out_dir: str | Path, stem: str = "agreement"
) -> list[Path]:
    """Draw ``compare()``'s result: two panels (RMSE, A@1), groups per dimension and overall,
    one bar per judge with its 95% CI. Returns the PNG and SVG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    judges = list(result["judges"])
    groups = [*DIMENSIONS, "overall"]
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(judges))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, title in zip(
        axes, ("rmse", "a1"), ("RMSE (lower is better)", "A@1"), strict=False
    ):
        for i, name in enumerate(judges):
            res = result["judges"][name]
            blocks = [
                res["dimensions"].get(g) if g != "overall" else res["overall"] for g in groups
            ]
            vals = [(b or {}).get(metric, {}) or {} for b in blocks]
            heights = [v.get("value") or 0.0 for v in vals]
            err = np.array(
                [
                    [h - v["ci95"][0], v["ci95"][1] - h] if v.get("ci95") else [0.0, 0.0]
                    for h, v in zip(heights, vals, strict=False)
                ]
            ).T
            ax.bar(x + i * width, heights, width, yerr=err, capsize=2, label=name)
        ax.set_xticks(x + width * (len(judges) - 1) / 2, [g.upper() for g in groups])
        ax.set_title(title)
        if metric == "a1":
            ax.set_ylim(0, 1.05)
    # Below the panels: A@1 bars of good judges reach 0.9-1.0, where a legend inside would sit.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(judges)), fontsize="small")
    rows = -(-len(judges) // 3)
    fig.tight_layout(rect=(0, 0.06 * rows, 1, 1))
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    for p in paths:
        fig.savefig(p)
    plt.close(fig)
    return paths
