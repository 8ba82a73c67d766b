"""The leaderboard: per generator the four means with 95% CIs, overall, n, n unparsed.

Ranking marks ties: a generator's rank is 1 + the number of generators whose overall 95% CI
lies wholly above its own, so generators whose intervals overlap share a rank (the
convention of arena-style leaderboards). Written as Markdown, CSV, HTML and JSON, with a
radar chart and a bar chart (PNG and SVG).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from intersyn.report import plots
from intersyn.report.inputs import summarize_judgements
from intersyn.report.render import copy_assets, write_file, write_page
from intersyn.schema import DIMENSION_NAMES, DIMENSIONS, Judgement

CI = tuple[float, float]


@dataclass
class Entry:
    """One generator's line of the leaderboard."""

    name: str
    means: dict[str, float | None]
    cis: dict[str, CI | None]
    overall: float | None
    overall_ci: CI | None
    n: int
    n_unparsed: int
    n_failed: int = 0
    rank: int = 0
    tied_with: list[str] = field(default_factory=list)
    judge_model: str | None = None
    report: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_ci(value: Any) -> CI | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        lo, hi = value.get("lo", value.get("low")), value.get("hi", value.get("high"))
    else:
        lo, hi = value[0], value[1]
    if lo is None or hi is None:
        return None
    return (float(lo), float(hi))


def entry_from_summary(name: str, summary: Mapping[str, Any], *, n_failed: int = 0) -> Entry:
    """An entry from :func:`intersyn.judge.summary.summarize`'s result."""
    dims = summary.get("dimensions", summary)
    means: dict[str, float | None] = {}
    cis: dict[str, CI | None] = {}
    n = 0
    n_unparsed = int(summary.get("n_unparsed", 0) or 0)
    for d in DIMENSIONS:
        stats = dims.get(d) or {}
        means[d] = stats.get("mean")
        cis[d] = parse_ci(stats.get("ci95", stats.get("ci")))
        n = max(n, int(stats.get("n", 0) or 0))
    overall = summary.get("overall")
    overall_ci = None
    if isinstance(overall, Mapping):
        overall_ci = parse_ci(overall.get("ci95", overall.get("ci")))
        overall = overall.get("mean")
    n = int(summary.get("n", n) or n)
    return Entry(
        name=name,
        means=means,
        cis=cis,
        overall=None if overall is None else float(overall),
        overall_ci=overall_ci,
        n=n,
        n_unparsed=n_unparsed,
        n_failed=n_failed,
        judge_model=", ".join(summary.get("judge_models", [])) or None,
    )


def entry_from_judgements(name: str, judgements: list[Judgement], *, n_failed: int = 0) -> Entry:
    """Summarise one generator's judgements with the judge's own summary.

    The judgements are put in (sample, turn) order first: the bootstrap CIs then do not depend
    on the order workers happened to write them (local vs Ray engine, concurrency).
    """
    ordered = sorted(judgements, key=lambda j: (j.sample_id, j.turn))
    entry = entry_from_summary(name, summarize_judgements(ordered), n_failed=n_failed)
    models = sorted({j.judge_model for j in judgements})
    entry.judge_model = entry.judge_model or (", ".join(models) if models else None)
    return entry


def leaderboard_of_sets(named: Mapping[str, str | Path], out_dir: str | Path) -> Path:
    """A leaderboard of judgement sets (``name → set folder or judge output``) rather than
    of a benchmark folder: e.g. generators judged apart, or the reference judge's imported
    scores next to intersyn's. Returns the HTML page."""
    from intersyn.data.outputs import claim_folder
    from intersyn.report.inputs import load_judgement_list

    check = list(named.values())
    entries = [
        entry_from_judgements(name, load_judgement_list(path)) for name, path in named.items()
    ]
    claim_folder(out_dir, "leaderboard", inputs=check)  # never over or inside a judged set
    return write_leaderboard(entries, out_dir, title="Leaderboard")


def rank(entries: Sequence[Entry]) -> list[Entry]:
    """Sort by overall mean and set rank and ties from overlapping overall CIs."""
    ordered = sorted(entries, key=lambda e: (e.overall is None, -(e.overall or 0.0), e.name))
    for e in ordered:
        if e.overall is None:
            e.rank = 0
            e.tied_with = []
            continue
        lo, hi = e.overall_ci or (e.overall, e.overall)
        better = 0
        tied = []
        for other in ordered:
            if other is e or other.overall is None:
                continue
            olo, ohi = other.overall_ci or (other.overall, other.overall)
            if olo > hi:
                better += 1
            elif not (ohi < lo):
                tied.append(other.name)
        e.rank = 1 + better
        e.tied_with = tied
    return ordered


# -- writing ------------------------------------------------------------------------------
def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _fmt_ci(ci: CI | None) -> str:
    return "" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _rank_label(e: Entry) -> str:
    if e.rank == 0:
        return "–"
    return f"{e.rank}=" if e.tied_with else str(e.rank)


def to_markdown(entries: Sequence[Entry]) -> str:
    """A Markdown table: rank (``=`` marks a tie), means with 95% CIs, overall, n, unparsed,
    failed (questions the generator left unanswered)."""
    head = [
        "rank",
        "generator",
        *[d.upper() for d in DIMENSIONS],
        "overall",
        "n",
        "unparsed",
        "failed",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        cells = [_rank_label(e), e.name.replace("|", "\\|")]
        cells += [f"{_fmt(e.means[d])} {_fmt_ci(e.cis[d])}".strip() for d in DIMENSIONS]
        cells += [f"{_fmt(e.overall)} {_fmt_ci(e.overall_ci)}".strip(), str(e.n), str(e.n_unparsed)]
        cells.append(str(e.n_failed))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Means of integer scores 0–5 with bootstrap 95% CIs; overall = mean of the four means. "
        "`=` marks a rank shared with generators whose overall CI overlaps. "
        "unparsed: judge replies counted, never scored; failed: questions left unanswered."
    )
    return "\n".join(lines) + "\n"


def to_csv(entries: Sequence[Entry]) -> str:
    """One row per generator; CI bounds in their own columns."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["rank", "tied", "generator"]
    for d in [*DIMENSIONS, "overall"]:
        head += [d, f"{d}_ci_low", f"{d}_ci_high"]
    head += ["n", "n_unparsed", "n_failed", "judge_model"]
    w.writerow(head)
    for e in entries:
        row: list[Any] = [e.rank, ";".join(e.tied_with), e.name]
        for mean, ci in [*[(e.means[d], e.cis[d]) for d in DIMENSIONS], (e.overall, e.overall_ci)]:
            row += [
                "" if mean is None else f"{mean:.4f}",
                "" if ci is None else f"{ci[0]:.4f}",
                "" if ci is None else f"{ci[1]:.4f}",
            ]
        row += [e.n, e.n_unparsed, e.n_failed, e.judge_model or ""]
        w.writerow(row)
    return buf.getvalue()


def write_leaderboard(
    entries: Sequence[Entry], out_dir: str | Path, *, title: str = "Leaderboard"
) -> Path:
    """Write leaderboard.{md,csv,json,html} and radar/bars charts; returns the HTML page."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ranked = rank(entries)
    write_file(out / "leaderboard.md", to_markdown(ranked).encode("utf-8"))
    write_file(out / "leaderboard.csv", to_csv(ranked).encode("utf-8"))
    payload = {"dimensions": list(DIMENSIONS), "entries": [e.to_json() for e in ranked]}
    write_file(out / "leaderboard.json", json.dumps(payload, indent=2).encode("utf-8"))
    means = {e.name: [e.means[d] for d in DIMENSIONS] for e in ranked}
    cis = {e.name: [e.cis[d] for d in DIMENSIONS] for e in ranked}
    charts = {
        "radar": plots.radar_chart(means, out),
        "bars": plots.bar_chart(means, cis, out),
    }
    copy_assets(out)
    page = out / "leaderboard.html"
    write_page(
        page,
        "leaderboard.html",
        root=".",
        title=title,
        entries=ranked,
        dimensions=DIMENSIONS,
        dimension_names=DIMENSION_NAMES,
        charts=charts,
        rank_label=_rank_label,
        fmt_ci=_fmt_ci,
    )
    return page
