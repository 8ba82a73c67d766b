"""Summaries of a judgement set: per dimension mean, variance, bootstrap 95% CI, n, n unparsed;
overall = the mean of the four dimension means; breakdowns by domain and category; the
judge's instability when each turn was judged more than once.

Unparsed and failed judgements are counted and left out of every mean — never turned into
numbers.

>>> s = summarize(load_judgements("runs/judged"))        # doctest: +SKIP
>>> s["overall"]["mean"], s["dimensions"]["its"]["ci95"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from intersyn.judge.stats import bootstrap_mean_ci
from intersyn.schema import DIMENSIONS, Judgement, Sample, TopicPath

TopicSource = Iterable[Sample] | Mapping[str, TopicPath]


def item_value(j: Judgement, dim: str) -> float | None:
    """The score of one turn on one dimension: the mean of its draws when judged k > 1 times."""
    if j.status != "ok":
        return None
    vals = [v for d in j.draws if (v := d.get(dim)) is not None]
    if vals:
        return float(np.mean(vals))
    score = getattr(j, dim)
    return None if score is None else float(score)


def summarize(
    judgements: list[Judgement],
    samples: TopicSource | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-dimension statistics, overall, breakdowns and instability as a JSON-ready dict.

    ``samples`` gives topics for the domain/category breakdown: dataset samples, or a mapping
    sample id → TopicPath (a judgement set stores the topics of dataset inputs itself).
    The result does not depend on the order judgements were written in (engines differ).
    """
    # Bootstrap resamples index positions: fix the order so the CIs are the same for the
    # same judgements whichever engine or worker wrote them first.
    judgements = sorted(judgements, key=lambda j: (j.sample_id, j.turn))
    status = Counter(j.status for j in judgements)
    out: dict[str, Any] = {
        "n_items": len(judgements),
        "n_ok": status["ok"],
        "n_unparsed": status["unparsed"],
        "n_error": status["error"],
        "judge_models": sorted({j.judge_model for j in judgements}),
        "rubric_versions": sorted({j.rubric_version for j in judgements}),
        "modes": dict(Counter(j.mode for j in judgements)),
        "n_forced": sum(1 for j in judgements if j.forced),
        "dimensions": {},
    }
    for k, dim in enumerate(DIMENSIONS):
        vals = _values(judgements, dim)
        out["dimensions"][dim] = _describe(vals, n_boot=n_boot, seed=seed + k) | {
            "n_unparsed": status["unparsed"],
            "n_error": status["error"],
        }
    out["overall"] = _overall(judgements, n_boot=n_boot, seed=seed + 7)
    topics = _topics(samples)
    if topics:
        out["by_domain"] = _breakdown(judgements, topics, lambda t: t.domain)
        out["by_category"] = _breakdown(judgements, topics, lambda t: f"{t.domain} / {t.category}")
    inst = instability(judgements)
    if inst is not None:
        out["instability"] = inst
    return out


def _values(judgements: Iterable[Judgement], dim: str) -> np.ndarray:
    return np.asarray([v for j in judgements if (v := item_value(j, dim)) is not None], dtype=float)


def _describe(vals: np.ndarray, *, n_boot: int, seed: int) -> dict[str, Any]:
    if len(vals) == 0:
        return {"mean": None, "variance": None, "ci95": None, "n": 0}
    ci = bootstrap_mean_ci(vals, n_boot=n_boot, seed=seed)
    return {
        "mean": float(vals.mean()),
        "variance": float(vals.var(ddof=1)) if len(vals) > 1 else None,
        "ci95": list(ci) if ci else None,
        "n": len(vals),
    }


def _overall(judgements: list[Judgement], *, n_boot: int, seed: int) -> dict[str, Any]:
    means = [_values(judgements, d) for d in DIMENSIONS]
    if any(len(m) == 0 for m in means):
        return {"mean": None, "ci95": None, "n": 0}
    # An ok judgement has all four scores, so the mean of the four dimension means equals the
    # mean over turns of each turn's four-score mean: bootstrap that.
    per_item = np.asarray(
        [np.mean([item_value(j, d) for d in DIMENSIONS]) for j in judgements if j.status == "ok"]
    )
    ci = bootstrap_mean_ci(per_item, n_boot=n_boot, seed=seed)
    return {
        "mean": float(np.mean([m.mean() for m in means])),
        "ci95": list(ci) if ci else None,
        "n": len(per_item),
    }


def _topics(samples: TopicSource | None) -> dict[str, TopicPath]:
    if samples is None:
        return {}
    if isinstance(samples, Mapping):
        return dict(samples)
    return {s.id: s.topic for s in samples}


def _breakdown(
    judgements: list[Judgement], topics: Mapping[str, TopicPath], key: Any
) -> dict[str, Any]:
    groups: dict[str, list[Judgement]] = {}
    for j in judgements:
        t = topics.get(j.sample_id)
        if t is not None:
            groups.setdefault(key(t), []).append(j)
    out: dict[str, Any] = {}
    for name in sorted(groups):
        js = groups[name]
        row: dict[str, Any] = {"n": sum(1 for j in js if j.status == "ok")}
        row["n_unparsed"] = sum(1 for j in js if j.status == "unparsed")
        dim_means = []
        for d in DIMENSIONS:
            vals = _values(js, d)
            row[d] = float(vals.mean()) if len(vals) else None
            dim_means.append(row[d])
        row["overall"] = (
            float(np.mean(dim_means)) if all(m is not None for m in dim_means) else None
        )
        out[name] = row
    return out


def forced_dims(j: Judgement) -> set[str]:
    """The dimensions a hard rule set in code for this turn (not scored by the judge), read
    from ``Judgement.forced`` (``"no text: tcc=its=0"``, ``"no image (...): icc=iq=its=0"``)."""
    out: set[str] = set()
    for rule in j.forced:
        out.update(p for p in rule.rpartition(": ")[2].split("=") if p in DIMENSIONS)
    return out


def item_stats(j: Judgement) -> dict[str, Any]:
    """One turn over its draws: per dimension the mean and the (population) standard
    deviation, and the number of draws (1 when judged once: std 0)."""
    row: dict[str, Any] = {"sample_id": j.sample_id, "turn": j.turn, "status": j.status}
    row["n_draws"] = len(j.draws) if j.draws else (1 if j.status == "ok" else 0)
    for d in DIMENSIONS:
        vals = [v for dr in j.draws if (v := dr.get(d)) is not None]
        if not vals and j.status == "ok" and getattr(j, d) is not None:
            vals = [getattr(j, d)]
        row[f"{d}_mean"] = float(np.mean(vals)) if vals else None
        row[f"{d}_std"] = float(np.std(vals)) if vals else None
    return row


#: How many of the least stable turns the summary lists with their mean and spread.
LEAST_STABLE = 10


def instability(judgements: list[Judgement]) -> dict[str, Any] | None:
    """How much a judge disagrees with itself over k draws (None when no turn has draws).

    Per dimension: the mean per-turn standard deviation of the draws, and the share of turns
    whose draws are not all equal — over the turns the judge scored that dimension on (a
    dimension a hard rule set to 0 in code is left out); plus the share of turns where any
    dimension varies, and ``least_stable``: the turns whose draws differ most, each with its
    per-dimension mean and standard deviation (:func:`item_stats`).
    """
    sampled = [j for j in judgements if j.status == "ok" and len(j.draws) > 1]
    if not sampled:
        return None
    out: dict[str, Any] = {"n_items": len(sampled), "draws": _draw_counts(sampled)}
    any_varies = np.zeros(len(sampled), dtype=bool)
    forced = [forced_dims(j) for j in sampled]
    for d in DIMENSIONS:
        stds, varies = [], []
        for i, j in enumerate(sampled):
            vals = [v for dr in j.draws if (v := dr.get(d)) is not None]
            if d in forced[i] or not vals:
                continue
            stds.append(float(np.std(vals)))
            varies.append(len(set(vals)) > 1)
            any_varies[i] |= varies[-1]
        out[d] = {
            "mean_std": float(np.mean(stds)) if stds else None,
            "share_varying": float(np.mean(varies)) if varies else None,
            "n_items": len(stds),
        }
    out["share_any_varying"] = float(any_varies.mean())
    dim_stds = [m for d in DIMENSIONS if (m := out[d]["mean_std"]) is not None]
    out["mean_std"] = float(np.mean(dim_stds)) if dim_stds else None
    out["least_stable"] = _least_stable(sampled)
    return out


def _least_stable(sampled: list[Judgement]) -> list[dict[str, Any]]:
    rows = [item_stats(j) for j in sampled]
    total = [sum(r[f"{d}_std"] or 0.0 for d in DIMENSIONS) for r in rows]
    order = sorted(
        (i for i in range(len(rows)) if total[i] > 0),
        key=lambda i: (-total[i], rows[i]["sample_id"], rows[i]["turn"]),
    )
    return [rows[i] for i in order[:LEAST_STABLE]]


def _draw_counts(sampled: list[Judgement]) -> dict[str, int]:
    c = Counter(len(j.draws) for j in sampled)
    return {str(k): v for k, v in sorted(c.items())}
