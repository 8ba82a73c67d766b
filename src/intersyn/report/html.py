"""The report of a judged dataset: ``intersyn report DATASET --judgements J --out DIR``.

One page with the summary table (means, 95% CIs, variance, n, n unparsed), score
distributions, a per-domain breakdown, how unstable the judge was, and the lowest-scoring
turns with their question, answer and image. The numbers come from the judge's own
summary (:func:`intersyn.judge.summary.summarize`); this module only lays them out.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intersyn.data.outputs import check_folder_output, claim_folder
from intersyn.errors import InputError
from intersyn.report import plots
from intersyn.report.images import ImageSink, SiteImage
from intersyn.report.inputs import (
    JudgementsArg,
    load_judgement_list,
    open_samples,
    summarize_judgements,
    turn_overall,
)
from intersyn.report.leaderboard import CI, parse_ci
from intersyn.report.render import copy_assets, write_page
from intersyn.report.viewer import sample_page
from intersyn.schema import DIMENSION_NAMES, DIMENSIONS, Judgement, Sample

LOWEST = 12


@dataclass
class DimRow:
    """One line of a summary table."""

    label: str
    mean: float | None
    ci: CI | None
    variance: float | None
    n: int | None
    n_unparsed: int | None


def summary_rows(summary: Mapping[str, Any]) -> list[DimRow]:
    """The four dimensions and overall, from the judge's summary."""
    dims = summary.get("dimensions", summary)
    rows = []
    for d in DIMENSIONS:
        s = dims.get(d) or {}
        rows.append(
            DimRow(
                label=f"{d.upper()} · {DIMENSION_NAMES[d]}",
                mean=s.get("mean"),
                ci=parse_ci(s.get("ci95", s.get("ci"))),
                variance=s.get("variance", s.get("var")),
                n=s.get("n"),
                n_unparsed=s.get("n_unparsed"),
            )
        )
    overall = summary.get("overall")
    if isinstance(overall, Mapping):
        rows.append(
            DimRow(
                "overall",
                overall.get("mean"),
                parse_ci(overall.get("ci95", overall.get("ci"))),
                None,
                overall.get("n"),
                None,
            )
        )
    elif overall is not None:
        rows.append(DimRow("overall", float(overall), None, None, None, None))
    return rows


@dataclass
class GroupRow:
    """One line of a breakdown table (per domain or per category)."""

    name: str
    n: int
    n_unparsed: int
    means: dict[str, float | None]
    overall: float | None


def breakdown_rows(summary: Mapping[str, Any], key: str) -> list[GroupRow]:
    """Per-domain (``key="by_domain"``) or per-category rows of the judge's summary."""
    groups = summary.get(key) or {}
    return [
        GroupRow(
            name=str(name),
            n=int(g.get("n", 0) or 0),
            n_unparsed=int(g.get("n_unparsed", 0) or 0),
            means={d: g.get(d) for d in DIMENSIONS},
            overall=g.get("overall"),
        )
        for name, g in sorted(groups.items())
    ]


def distribution(judgements: list[Judgement]) -> dict[str, list[int]]:
    """How many ok turns got each score 0–5, per dimension."""
    counts = {d: [0] * 6 for d in DIMENSIONS}
    for j in judgements:
        if j.status != "ok":
            continue
        for d in DIMENSIONS:
            v = getattr(j, d)
            if v is not None:
                counts[d][v] += 1
    return counts


def _lowest(judgements: list[Judgement], k: int) -> list[Judgement]:
    scored = [(turn_overall(j), j.sample_id, j.turn, j) for j in judgements]
    ok = [(o, s, t, j) for o, s, t, j in scored if o is not None]
    return [j for _o, _s, _t, j in heapq.nsmallest(k, ok, key=lambda x: (x[0], x[1], x[2]))]


@dataclass
class Example:
    judgement: Judgement
    sample: Sample | None
    image: SiteImage | None
    overall: float | None


def _examples(
    dataset_path: str | Path, lowest: list[Judgement], out: Path
) -> tuple[list[Example], dict[str, int]]:
    """Stream the dataset once: the lowest turns' content and images, and domain counts."""
    wanted = {(j.sample_id, j.turn): j for j in lowest}
    wanted_ids = {j.sample_id for j in lowest}
    found: dict[tuple[str, int], Example] = {}
    domains: Counter[str] = Counter()
    sink = ImageSink(out)
    dataset = open_samples(dataset_path)
    for sample in dataset.samples(on_error="skip"):
        domains[sample.topic.domain] += 1
        if sample.id not in wanted_ids:
            continue
        for (sid, turn), j in wanted.items():
            if sid != sample.id or turn >= len(sample.turns):
                continue
            try:
                image = sink.add(dataset.image_bytes(sample, turn))
            except (InputError, OSError):  # missing or not decodable: shown without it
                image = None
            found[(sid, turn)] = Example(j, sample, image, turn_overall(j))
    examples = [
        found.get((j.sample_id, j.turn)) or Example(j, None, None, turn_overall(j)) for j in lowest
    ]
    return examples, dict(domains)


def viewer_link(viewer: str, out_dir: str | Path) -> str:
    """The link from a report in ``out_dir`` to a built viewer site.

    ``viewer`` is the site's folder as the user typed it (relative to the working directory,
    or absolute), or a link already relative to ``out_dir``, or a URL. A folder with no
    ``index.html`` either way is refused, so a report never carries a dead link.
    """
    if "://" in viewer:
        return viewer
    site, out = Path(viewer), Path(out_dir)
    if (site / "index.html").is_file():
        return Path(os.path.relpath(site.resolve(), out.resolve())).as_posix()
    if not site.is_absolute() and (out / site / "index.html").is_file():
        return site.as_posix()
    raise InputError(
        f"--viewer {viewer}: no viewer site there (no index.html); build it first with "
        f"`intersyn view DATASET --out {viewer}` and give that folder"
    )


def build_report(
    dataset_path: str | Path | None,
    judgements_path: JudgementsArg,
    out_dir: str | Path,
    *,
    title: str | None = None,
    lowest: int = LOWEST,
    viewer: str | None = None,
) -> Path:
    """Write the report of a judged dataset to ``out_dir``; returns its ``index.html``.

    ``dataset_path`` may be None (judgements only: no images, no domain breakdown beyond
    what the judgements carry). ``viewer`` is a relative link to a built viewer site, so
    each example links to its sample page. ``out_dir`` must be new, empty or an earlier
    report, and never an input or inside one (:func:`intersyn.data.outputs.claim_folder`).
    """
    judged_from = judgements_path if isinstance(judgements_path, str | Path) else None
    check_folder_output(out_dir, "report", inputs=[dataset_path, judged_from])
    judgements = load_judgement_list(judgements_path)
    if not judgements:
        raise InputError(f"{judgements_path}: no judgements to report; run `intersyn judge` first")
    out = claim_folder(out_dir, "report", inputs=[dataset_path, judged_from])
    topics = None
    if dataset_path is not None:  # topics for the per-domain breakdown, streamed
        topics = {s.id: s.topic for s in open_samples(dataset_path).samples(on_error="skip")}
    summary = summarize_judgements(judgements, samples=topics)
    lowest_j = _lowest(judgements, lowest)
    examples: list[Example] = []
    if dataset_path is not None:
        examples, _domains = _examples(dataset_path, lowest_j, out)
    else:
        examples = [Example(j, None, None, turn_overall(j)) for j in lowest_j]
    counts = distribution(judgements)
    charts = {"distribution": plots.distribution_chart(counts, out)}
    status = Counter(j.status for j in judgements)
    modes = Counter(j.mode for j in judgements)
    forced = Counter(rule for j in judgements for rule in j.forced)
    copy_assets(out)
    index = out / "index.html"
    write_page(
        index,
        "report.html",
        root=".",
        title=title or f"Report · {Path(str(dataset_path or judgements_path)).name}",
        rows=summary_rows(summary),
        domains=breakdown_rows(summary, "by_domain"),
        categories=breakdown_rows(summary, "by_category"),
        counts=counts,
        charts=charts,
        instability=summary.get("instability"),
        status=dict(status),
        modes=dict(modes),
        forced=dict(forced),
        judge_models=summary.get("judge_models", []),
        rubric_versions=summary.get("rubric_versions", []),
        examples=examples,
        dimensions=DIMENSIONS,
        viewer=viewer,
        sample_page=sample_page,
        total=len(judgements),
    )
    return index
