"""Agreement between annotators so far, for the admin page and ``annotate status``.

Uses the judge's :func:`intersyn.judge.agreement.inter_annotator` when it is installed (one
home for agreement statistics); until then, Krippendorff's α (ordinal, values 0–5) per
dimension from the ``krippendorff`` package.
"""

from __future__ import annotations

import importlib
import math
import warnings
from typing import Any

from intersyn.schema import DIMENSIONS, Rating


def agreement_so_far(ratings: list[Rating]) -> dict[str, Any]:
    """``{"alpha": {dim: float | None}, "items": n rated twice or more, "method": str}``.

    α is None for a dimension while it is undefined: fewer than two ratings on every item, or
    every rating identical.
    """
    shared = _items_rated_twice(ratings)
    judge = _judge_inter_annotator()
    if judge is not None:
        result = judge(ratings)
        alpha = result.get("alpha", {}) if isinstance(result, dict) else {}
        return {
            "alpha": {d: _ordinal(alpha.get(d)) for d in DIMENSIONS},
            "items": shared,
            "method": "intersyn.judge.agreement.inter_annotator",
        }
    return {"alpha": krippendorff_alpha(ratings), "items": shared, "method": "krippendorff-ordinal"}


def krippendorff_alpha(ratings: list[Rating]) -> dict[str, float | None]:
    """Krippendorff's α (ordinal, domain 0–5) per dimension over items rated twice or more."""
    import krippendorff
    import numpy as np

    if _items_rated_twice(ratings) == 0:
        return {d: None for d in DIMENSIONS}
    items = sorted({(r.sample_id, r.turn) for r in ratings})
    annotators = sorted({r.annotator for r in ratings})
    col = {k: i for i, k in enumerate(items)}
    row = {a: i for i, a in enumerate(annotators)}
    out: dict[str, float | None] = {}
    for d in DIMENSIONS:
        data = np.full((len(annotators), len(items)), np.nan)
        for r in ratings:
            data[row[r.annotator], col[(r.sample_id, r.turn)]] = getattr(r, d)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 0/0 when every rating is the same: undefined
                value = krippendorff.alpha(
                    reliability_data=data,
                    level_of_measurement="ordinal",
                    value_domain=list(range(6)),
                )
        except (ValueError, ZeroDivisionError):
            value = None
        out[d] = _finite(value)
    return out


def _items_rated_twice(ratings: list[Rating]) -> int:
    counts: dict[tuple[str, int], int] = {}
    for r in ratings:
        counts[(r.sample_id, r.turn)] = counts.get((r.sample_id, r.turn), 0) + 1
    return sum(1 for n in counts.values() if n >= 2)


def _judge_inter_annotator() -> Any:
    try:
        module = importlib.import_module("intersyn.judge.agreement")
    except ImportError:
        return None
    return getattr(module, "inter_annotator", None)


def _ordinal(value: Any) -> float | None:
    """The judge reports α per level of measurement; ratings 0-5 are ordinal."""
    if isinstance(value, dict):
        value = value.get("ordinal")
    return _finite(value)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
