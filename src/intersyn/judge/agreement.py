"""Agreement of judges with human ratings, and of human annotators with each other.

Judge vs human pairs by (sample id, turn). Every rating is one pair with the judge's score of
that turn (several annotators → several pairs per turn); bootstrap CIs resample *turns* with
all their pairs. Per dimension and overall (all four dimensions pooled): RMSE, MAE, exact
agreement, A@1 (share within ±1 — the paper's metric), Pearson, Spearman, Kendall τ-b and
quadratic weighted kappa, each with a seeded percentile bootstrap 95% CI.

Between annotators: Krippendorff's α (interval and ordinal) per dimension with the
``krippendorff`` package, and pairwise exact / A@1 on the turns both rated.

>>> res = compare({"gpt-4o": judgements}, ratings)          # doctest: +SKIP
>>> res["judges"]["gpt-4o"]["dimensions"]["its"]["a1"]       # doctest: +SKIP
{'value': 0.93, 'ci95': [0.9, 0.96]}
"""

from __future__ import annotations

import itertools
import warnings
from collections import defaultdict
from typing import Any

import numpy as np
from scipy import stats

from intersyn.judge.stats import bootstrap_clusters
from intersyn.schema import DIMENSIONS, Judgement, Rating

METRICS = ("rmse", "mae", "exact", "a1", "pearson", "spearman", "kendall", "qwk")
LEVELS = np.arange(6)


# -- metrics ---------------------------------------------------------------------------------
def point_metrics(judge: np.ndarray, human: np.ndarray) -> dict[str, float | None]:
    """The eight agreement metrics of paired integer scores, from scipy / scikit-learn."""
    from sklearn.metrics import cohen_kappa_score

    j, h = np.asarray(judge, dtype=float), np.asarray(human, dtype=float)
    out: dict[str, float | None] = _error_metrics(j, h)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["pearson"] = _finite(stats.pearsonr(j, h)[0]) if _varies(j, h) else None
        out["spearman"] = _finite(stats.spearmanr(j, h)[0]) if _varies(j, h) else None
        out["kendall"] = _finite(stats.kendalltau(j, h)[0]) if _varies(j, h) else None
        qwk = cohen_kappa_score(
            j.astype(int), h.astype(int), weights="quadratic", labels=list(LEVELS)
        )
    out["qwk"] = _finite(qwk)
    return out


def fast_metrics(judge: np.ndarray, human: np.ndarray) -> dict[str, float | None]:
    """The same metrics with numpy only (plus scipy's Kendall τ), for bootstrap resamples.

    Equal to :func:`point_metrics` (tests check it); several times faster.
    """
    j, h = judge.astype(float), human.astype(float)
    out: dict[str, float | None] = _error_metrics(j, h)
    if _varies(j, h):
        out["pearson"] = _pearson(j, h)
        out["spearman"] = _pearson(stats.rankdata(j), stats.rankdata(h))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["kendall"] = _finite(stats.kendalltau(j, h)[0])
    else:
        out["pearson"] = out["spearman"] = out["kendall"] = None
    out["qwk"] = _qwk(j.astype(int), h.astype(int))
    return out


def _error_metrics(j: np.ndarray, h: np.ndarray) -> dict[str, float | None]:
    diff = j - h
    return {
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "mae": float(np.mean(np.abs(diff))),
        "exact": float(np.mean(diff == 0)),
        "a1": float(np.mean(np.abs(diff) <= 1)),
    }


def _varies(j: np.ndarray, h: np.ndarray) -> bool:
    return len(j) > 1 and bool(np.ptp(j) > 0) and bool(np.ptp(h) > 0)


def _as_list(ci: tuple[float, float] | None) -> list[float] | None:
    return list(ci) if ci is not None else None


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else None


def _qwk(j: np.ndarray, h: np.ndarray) -> float | None:
    k = len(LEVELS)
    observed = np.bincount(j * k + h, minlength=k * k).reshape(k, k).astype(float)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    weights = (LEVELS[:, None] - LEVELS[None, :]) ** 2
    den = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / den) if den > 0 else None


# -- pairing ---------------------------------------------------------------------------------
class Pairs:
    """Judge/human score pairs of one judge: per dimension, with the turn (cluster) of each."""

    def __init__(self, judgements: list[Judgement], ratings: list[Rating]) -> None:
        by_key = {(j.sample_id, j.turn): j for j in judgements}
        self.items: list[tuple[str, int]] = []
        index: dict[tuple[str, int], int] = {}
        judge: list[list[int]] = []
        human: list[list[int]] = []
        cluster: list[int] = []
        self.unmatched: list[tuple[str, int]] = []
        self.not_scored: set[tuple[str, int]] = set()
        for r in ratings:
            key = (r.sample_id, r.turn)
            j = by_key.get(key)
            if j is None:
                self.unmatched.append(key)
                continue
            if j.status != "ok":
                self.not_scored.add(key)
                continue
            if key not in index:
                index[key] = len(self.items)
                self.items.append(key)
            judge.append([int(getattr(j, d)) for d in DIMENSIONS])
            human.append([getattr(r, d) for d in DIMENSIONS])
            cluster.append(index[key])
        self.judge = np.asarray(judge, dtype=int).reshape(-1, len(DIMENSIONS))
        self.human = np.asarray(human, dtype=int).reshape(-1, len(DIMENSIONS))
        self.cluster = np.asarray(cluster, dtype=int)

    def select(self, dim: str | None, weights: np.ndarray | None = None) -> tuple[Any, Any]:
        """Judge and human scores of one dimension (None: all four pooled), optionally
        repeating each pair by its turn's bootstrap count."""
        if dim is None:
            j, h = self.judge.reshape(-1), self.human.reshape(-1)
            rep = None if weights is None else np.repeat(weights[self.cluster], len(DIMENSIONS))
        else:
            c = DIMENSIONS.index(dim)
            j, h = self.judge[:, c], self.human[:, c]
            rep = None if weights is None else weights[self.cluster]
        if rep is None:
            return j, h
        return np.repeat(j, rep), np.repeat(h, rep)


def agreement(
    judgements: list[Judgement], ratings: list[Rating], *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Agreement of one judge's judgements with human ratings (see the module docstring)."""
    pairs = Pairs(judgements, ratings)
    out: dict[str, Any] = {
        "n_items": len(pairs.items),
        "n_pairs": len(pairs.cluster),
        "n_not_scored": len(pairs.not_scored),
        "n_unmatched_ratings": len(pairs.unmatched),
        "dimensions": {},
    }
    groups: list[tuple[str, str | None]] = [(d, d) for d in DIMENSIONS] + [("overall", None)]
    for k, (name, dim) in enumerate(groups):
        if len(pairs.cluster) == 0:
            empty = {m: {"value": None, "ci95": None} for m in METRICS}
            if dim is None:
                out["overall"] = empty
            else:
                out["dimensions"][name] = empty
            continue
        values = point_metrics(*pairs.select(dim))

        def stat(counts: np.ndarray, dim: str | None = dim) -> dict[str, float | None]:
            return fast_metrics(*pairs.select(dim, counts))

        cis = bootstrap_clusters(len(pairs.items), stat, n_boot=n_boot, seed=seed + k)
        block = {m: {"value": values[m], "ci95": _as_list(cis.get(m))} for m in METRICS}
        if dim is None:
            out["overall"] = block
        else:
            out["dimensions"][name] = block
    return out


def compare(
    judges: dict[str, list[Judgement]],
    ratings: list[Rating],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Several judges side by side against the same ratings, plus inter-annotator agreement.

    ``unmatched`` lists the rated turns that no judge judged (named, so they can be fixed).
    """
    results = {
        name: agreement(js, ratings, n_boot=n_boot, seed=seed) for name, js in judges.items()
    }
    judged = {(j.sample_id, j.turn) for js in judges.values() for j in js}
    unmatched = sorted({(r.sample_id, r.turn) for r in ratings} - judged)
    return {
        "n_ratings": len(ratings),
        "annotators": sorted({r.annotator for r in ratings}),
        "judges": results,
        "unmatched": [{"sample_id": s, "turn": t} for s, t in unmatched],
        "inter_annotator": inter_annotator(ratings),
        "n_boot": n_boot,
        "seed": seed,
    }


# -- between annotators ----------------------------------------------------------------------
def inter_annotator(ratings: list[Rating]) -> dict[str, Any]:
    """Krippendorff's α (interval, ordinal) per dimension and pairwise A@1 between annotators.

    Returns ``alpha_interval`` and ``alpha_ordinal`` ({dim: α}); ``alpha`` is the ordinal one
    (scores are ordered levels). α is None (with a ``note``) when fewer than two annotators
    rated a common turn, or when it is undefined (every rating the same value).
    """
    import krippendorff

    annotators = sorted({r.annotator for r in ratings})
    items = sorted({(r.sample_id, r.turn) for r in ratings})
    col = {k: i for i, k in enumerate(items)}
    row = {a: i for i, a in enumerate(annotators)}
    per_item = defaultdict(set)
    for r in ratings:
        per_item[(r.sample_id, r.turn)].add(r.annotator)
    shared = sum(1 for v in per_item.values() if len(v) > 1)
    out: dict[str, Any] = {
        "annotators": annotators,
        "n_items": len(items),
        "n_items_multiply_rated": shared,
        "alpha_interval": dict.fromkeys(DIMENSIONS),
        "alpha_ordinal": dict.fromkeys(DIMENSIONS),
        "pairwise": [],
    }
    if len(annotators) < 2 or shared == 0:
        out["note"] = "needs at least two annotators rating the same turns"
        out["alpha"] = dict(out["alpha_ordinal"])
        return out
    for d in DIMENSIONS:
        m = np.full((len(annotators), len(items)), np.nan)
        for r in ratings:
            m[row[r.annotator], col[(r.sample_id, r.turn)]] = getattr(r, d)
        out["alpha_interval"][d] = _alpha(krippendorff, m, "interval")
        out["alpha_ordinal"][d] = _alpha(krippendorff, m, "ordinal")
    out["alpha"] = dict(out["alpha_ordinal"])
    out["pairwise"] = _pairwise(ratings, annotators)
    return out


def _alpha(krippendorff: Any, m: np.ndarray, level: str) -> float | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = krippendorff.alpha(
                reliability_data=m, level_of_measurement=level, value_domain=list(LEVELS)
            )
    except (ValueError, ZeroDivisionError):
        return None  # e.g. every rating the same value: α is undefined
    return _finite(a)


def _pairwise(ratings: list[Rating], annotators: list[str]) -> list[dict[str, Any]]:
    by = {(r.annotator, r.sample_id, r.turn): r for r in ratings}
    keys = {a: {(s, t) for (x, s, t) in by if x == a} for a in annotators}
    out = []
    for a, b in itertools.combinations(annotators, 2):
        common = sorted(keys[a] & keys[b])
        row: dict[str, Any] = {"a": a, "b": b, "n": len(common)}
        for d in DIMENSIONS:
            if not common:
                row[d] = {"a1": None, "exact": None}
                continue
            diff = np.asarray([getattr(by[(a, *k)], d) - getattr(by[(b, *k)], d) for k in common])
            row[d] = {
                "a1": float(np.mean(np.abs(diff) <= 1)),
                "exact": float(np.mean(diff == 0)),
            }
        out.append(row)
    return out
