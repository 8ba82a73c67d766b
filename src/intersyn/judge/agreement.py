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
    """The same metrics from the 6x6 table of (judge, human) score counts, for bootstrap
    resamples: O(1) per resample once the table is counted. Equal to :func:`point_metrics`
    (tests check it against scipy and scikit-learn)."""
    k = len(LEVELS)
    table = np.bincount(judge.astype(int) * k + human.astype(int), minlength=k * k)
    return table_metrics(table.reshape(k, k).astype(float))


def table_metrics(t: np.ndarray) -> dict[str, float | None]:
    """All eight metrics of a (possibly weighted) contingency table ``t[judge, human]``.

    Kendall's τ-b counts concordant and discordant pairs of cells; Spearman is Pearson on the
    mid-ranks of each level (ties share their average rank, as in scipy).
    """
    n = t.sum()
    if n == 0:
        return dict.fromkeys(METRICS)
    diff = LEVELS[:, None] - LEVELS[None, :]
    rows, cols = t.sum(1), t.sum(0)
    out: dict[str, float | None] = {
        "rmse": float(np.sqrt((t * diff**2).sum() / n)),
        "mae": float((t * np.abs(diff)).sum() / n),
        "exact": float(np.trace(t) / n),
        "a1": float(t[np.abs(diff) <= 1].sum() / n),
    }
    varies = n > 1 and (rows > 0).sum() > 1 and (cols > 0).sum() > 1
    out["pearson"] = (
        _table_pearson(t, LEVELS.astype(float), LEVELS.astype(float)) if varies else None
    )
    out["spearman"] = _table_pearson(t, _midranks(rows), _midranks(cols)) if varies else None
    out["kendall"] = _table_kendall(t) if varies else None
    expected = np.outer(rows, cols) / n
    den = (diff**2 * expected).sum()
    out["qwk"] = float(1 - (diff**2 * t).sum() / den) if den > 0 else None
    return out


def _midranks(counts: np.ndarray) -> np.ndarray:
    before = np.concatenate([[0.0], np.cumsum(counts)[:-1]])
    return before + (counts + 1) / 2


def _table_pearson(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> float | None:
    n = t.sum()
    mx, my = (t.sum(1) * x).sum() / n, (t.sum(0) * y).sum() / n
    dx, dy = x - mx, y - my
    cov = (t * np.outer(dx, dy)).sum()
    den = np.sqrt((t.sum(1) * dx**2).sum() * (t.sum(0) * dy**2).sum())
    return float(cov / den) if den > 0 else None


def _table_kendall(t: np.ndarray) -> float | None:
    # below_right[i, j]: counts in rows > i and columns > j; below_left: rows > i, columns < j
    tail = t[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1]
    below_right = np.zeros_like(t)
    below_right[:-1, :-1] = tail[1:, 1:]
    head = t[::-1, :].cumsum(0)[::-1, :].cumsum(1)
    below_left = np.zeros_like(t)
    below_left[:-1, 1:] = head[1:, :-1]
    concordant = (t * below_right).sum()
    discordant = (t * below_left).sum()
    n = t.sum()
    n0 = n * (n - 1) / 2
    n1 = (t.sum(1) * (t.sum(1) - 1) / 2).sum()
    n2 = (t.sum(0) * (t.sum(0) - 1) / 2).sum()
    den = np.sqrt((n0 - n1) * (n0 - n2))
    return float((concordant - discordant) / den) if den > 0 else None


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

    def select(self, dim: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Judge and human scores of one dimension (None: all four pooled)."""
        if dim is None:
            return self.judge.reshape(-1), self.human.reshape(-1)
        c = DIMENSIONS.index(dim)
        return self.judge[:, c], self.human[:, c]

    def table(self, dim: str | None, counts: np.ndarray) -> np.ndarray:
        """The 6x6 (judge, human) table when turn i is drawn ``counts[i]`` times."""
        j, h = self.select(dim)
        w = counts[self.cluster]
        if dim is None:
            w = np.repeat(w, len(DIMENSIONS))
        k = len(LEVELS)
        return np.bincount(j * k + h, weights=w, minlength=k * k).reshape(k, k)


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
            return table_metrics(pairs.table(dim, counts))

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
