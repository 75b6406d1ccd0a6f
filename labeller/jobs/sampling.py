"""Two small statistics a pilot and a report both need: which items to sample, and latency
percentiles. One definition each, so the pilot's p90 and the report's p90 are the same number."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["percentiles", "spread"]


def spread(population: int, sample: int) -> list[int]:
    """`sample` positions in `range(population)`, each the middle of one of `sample` equal
    parts: evenly spread, distinct, both ends covered. All of them when `sample >= population`.
    """
    if sample >= population:
        return list(range(population))
    return [(2 * k + 1) * population // (2 * sample) for k in range(sample)]


def percentiles(values: Sequence[float], points: Sequence[int]) -> dict[int, float]:
    """Point -> percentile of `values` (linear interpolation, numpy's default); empty for no
    values."""
    a = np.asarray(values, dtype=float)
    if not a.size:
        return {}
    cuts = np.percentile(a, points)
    return {q: float(v) for q, v in zip(points, cuts, strict=True)}
