"""The statistics evaluation reports: Wilson score intervals and the exact paired McNemar test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion (well-behaved near 0 and 1, unlike the normal one).

    >>> tuple(round(x, 3) for x in wilson_interval(8, 200))
    (0.02, 0.077)
    >>> wilson_interval(0, 0)
    (0.0, 1.0)
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class McNemarResult:
    """Paired comparison of two systems on the same questions."""

    only_a: int
    """Questions A got right and B wrong."""
    only_b: int
    """Questions B got right and A wrong."""
    p_value: float
    """Two-sided exact binomial p-value on the discordant pairs."""


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> McNemarResult:
    """Exact (binomial) McNemar test; the two sequences are paired by position.

    >>> r = mcnemar_exact([False] * 20, [True] * 20); (r.only_b, round(r.p_value, 7))
    (20, 1.9e-06)
    >>> mcnemar_exact([True, False], [True, False]).p_value
    1.0
    """
    if len(a_correct) != len(b_correct):
        raise ValueError("paired sequences must have equal length")
    only_a = sum(1 for a, b in zip(a_correct, b_correct) if a and not b)
    only_b = sum(1 for a, b in zip(a_correct, b_correct) if b and not a)
    n = only_a + only_b
    if n == 0:
        return McNemarResult(only_a, only_b, 1.0)
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return McNemarResult(only_a, only_b, min(1.0, 2 * tail))
