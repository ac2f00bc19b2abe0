"""Pure metrics of the critic's confidence: does the number the student sees mean what it says?

AUROC (ranking), expected calibration error (Guo et al. 2017, equal-width bins), the share of wrong answers
shown as confident, and coverage (the share that gets a verdict instead of "not verified"). Lists in,
numbers out; None where a metric is undefined (e.g. no wrong answer to be confident about).
"""

from __future__ import annotations

from collections.abc import Sequence


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(a random right answer scores above a random wrong one), ties counting half (Mann-Whitney U).

    >>> auroc([0.9, 0.1, 0.8, 0.3], [True, False, True, False]), auroc([0.5, 0.5], [True, False])
    (1.0, 0.5)
    >>> auroc([0.2, 0.6, 0.4], [True, False, True]), auroc([0.9], [True]) is None
    (0.0, True)
    """
    pairs = sorted(zip(scores, labels), key=lambda p: p[0])
    n_pos = sum(1 for _, y in pairs if y)
    n_neg = len(pairs) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):  # average ranks over ties
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum += mean_rank * sum(1 for _, y in pairs[i:j] if y)
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def expected_calibration_error(confidences: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float | None:
    """Mean |accuracy - mean confidence| over equal-width confidence bins, weighted by the bin's share.

    >>> round(expected_calibration_error([0.9, 0.9, 0.1, 0.1], [True, False, False, False]), 4)
    0.25
    >>> expected_calibration_error([1.0, 0.0], [True, False]), expected_calibration_error([], [])
    (0.0, None)
    """
    if not confidences:
        return None
    groups: dict[int, list[tuple[float, bool]]] = {}
    for c, y in zip(confidences, labels):
        groups.setdefault(min(int(c * bins), bins - 1), []).append((c, bool(y)))
    total = len(confidences)
    return sum(abs(sum(y for _, y in g) / len(g) - sum(c for c, _ in g) / len(g)) * len(g) / total
               for g in groups.values())


def false_confident_rate(confidences: Sequence[float | None], labels: Sequence[bool], shown: Sequence[bool],
                         at: float = 0.7) -> float | None:
    """Share of WRONG answers the student saw with a confidence >= ``at``; ``shown[i]`` is False where the
    badge showed no number (unverified or unscored). None when no answer is wrong.

    >>> false_confident_rate([0.9, 0.8, 0.2, 0.95], [False, False, False, True], [True, False, True, True])
    0.3333
    """
    wrong = [(c, s) for c, y, s in zip(confidences, labels, shown) if not y]
    if not wrong:
        return None
    return round(sum(1 for c, s in wrong if s and c is not None and c >= at) / len(wrong), 4)


def coverage(verdicts: Sequence[str | None]) -> float | None:
    """Share of answers given a verdict (right or wrong): not "unverified" and not unscored (None).

    >>> coverage(["right", "unverified", "wrong", None])
    0.5
    """
    if not verdicts:
        return None
    return round(sum(1 for v in verdicts if v in ("right", "wrong")) / len(verdicts), 4)
