"""Agreement between annotators so far, for the admin page and ``annotate status``.

One home for agreement statistics: :func:`intersyn.judge.agreement.inter_annotator`. This
module only picks what the admin page shows — ordinal α per dimension (scores 0–5 are ordered
categories) and how many items are rated twice or more.
"""

from __future__ import annotations

import math
from typing import Any

from intersyn.judge.agreement import inter_annotator
from intersyn.schema import DIMENSIONS, Rating


def agreement_so_far(ratings: list[Rating]) -> dict[str, Any]:
    """``{"alpha": {dim: float | None}, "items": n rated twice or more, "method": str}``.

    α is None for a dimension while it is undefined: no item rated twice, or every rating
    identical.
    """
    result = inter_annotator(ratings)
    alpha = result.get("alpha", {})
    return {
        "alpha": {d: _ordinal(alpha.get(d)) for d in DIMENSIONS},
        "items": int(result.get("n_items_multiply_rated", 0)),
        "method": "Krippendorff's alpha, ordinal (intersyn.judge.agreement)",
    }


def _ordinal(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("ordinal")
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None
