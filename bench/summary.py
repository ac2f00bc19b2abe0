"""Summaries the benches share."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]).

    >>> percentile([3.0, 1.0, 2.0], 0.5), percentile([1.0, 2.0, 3.0, 4.0], 1.0)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
