"""Does a confidence mean what it says? Reliability bins, ECE, AUROC and false-confident share of one set of
confidences against correctness labels, and the deterministic by-question folds the verifier's evaluation
cross-fits the part calibration on (so the calibrated confidence is judged on questions its fit never saw).

Pure: lists in, JSON-ready dicts out. A report is what the console's Confidence tab draws; its shape:

``{"n": 4, "right": 2, "left_out": 0, "auroc": 1.0, "ece": 0.25, "false_confident": 0.0, "confident_at": 0.7,
"bins": [{"lo": 0.0, "hi": 0.1, "n": 0, "confidence": None, "rate": None, "ci": None}, ...]}``

Bins are equal-width over [0, 1] (Guo et al. 2017, as ``serving.critique.metrics.expected_calibration_error``),
all ``bins`` of them listed, empty ones with ``n`` 0; ``ci`` is the Wilson 95% interval of the bin's right-rate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from serving.critique.metrics import auroc, expected_calibration_error, false_confident_rate
from training.stats import wilson_interval

REPORT_FORMAT = 1
"""Bump when the meaning of a report field changes (the console reads old checkpoints' reports too)."""
BINS = 10
CONFIDENT_AT = 0.7
"""A wrong answer shown at or above this confidence counts as false-confident (the student-facing threshold)."""


def question_folds(question_ids: Sequence[str], folds: int = 2) -> list[int]:
    """A fold per row, by question (every answer of a question in one fold), balanced and deterministic: the
    distinct questions in the order of a hash of their id, dealt round-robin.

    >>> question_folds(["a", "b", "a", "c", "d"])
    [1, 0, 1, 1, 0]
    >>> question_folds(["a", "b", "a", "c", "d"]) == question_folds(["a", "b", "a", "c", "d"])
    True
    """
    order = sorted(set(question_ids), key=lambda q: hashlib.sha256(q.encode()).hexdigest())
    fold = {q: i % folds for i, q in enumerate(order)}
    return [fold[q] for q in question_ids]


def bin_index(confidence: float, bins: int = BINS) -> int:
    """The equal-width bin of a confidence (1.0 falls in the last bin).

    >>> bin_index(0.0), bin_index(0.1), bin_index(0.99), bin_index(1.0)
    (0, 1, 9, 9)
    """
    return min(max(int(confidence * bins), 0), bins - 1)


def reliability_bins(confidences: Sequence[float], labels: Sequence[bool], bins: int = BINS) -> list[dict[str, Any]]:
    """Per equal-width bin: its edges, count, mean confidence, observed right-rate and the rate's Wilson CI.

    >>> b = reliability_bins([0.05, 0.92, 0.97], [False, True, False], bins=2)
    >>> [(x["lo"], x["hi"], x["n"], x["confidence"], x["rate"]) for x in b]
    [(0.0, 0.5, 1, 0.05, 0.0), (0.5, 1.0, 2, 0.945, 0.5)]
    """
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for c, y in zip(confidences, labels):
        groups[bin_index(c, bins)].append((float(c), bool(y)))
    out = []
    for i, group in enumerate(groups):
        right = sum(1 for _, y in group if y)
        stats: dict[str, Any] = {"confidence": None, "rate": None, "ci": None}
        if group:
            low, high = wilson_interval(right, len(group))
            stats = {"confidence": round(sum(c for c, _ in group) / len(group), 4),
                     "rate": round(right / len(group), 4), "ci": [round(low, 4), round(high, 4)]}
        out.append({"lo": round(i / bins, 4), "hi": round((i + 1) / bins, 4), "n": len(group), **stats})
    return out


def confidence_report(confidences: Sequence[float | None], labels: Sequence[bool], *,
                      confident_at: float = CONFIDENT_AT, bins: int = BINS) -> dict[str, Any]:
    """Reliability of ``confidences`` (None: no confidence for that row, left out and counted).

    >>> r = confidence_report([0.9, 0.9, 0.1, 0.1, None], [True, False, False, False, True])
    >>> r["n"], r["right"], r["left_out"], r["ece"], r["auroc"], r["false_confident"]
    (4, 1, 1, 0.25, 0.8333, 0.3333)
    """
    kept = [(float(c), bool(y)) for c, y in zip(confidences, labels) if c is not None]
    cs, ys = [c for c, _ in kept], [y for _, y in kept]
    ece = expected_calibration_error(cs, ys, bins)
    ranking = auroc(cs, ys)
    return {"n": len(kept), "right": sum(ys), "left_out": len(labels) - len(kept),
            "auroc": None if ranking is None else round(ranking, 4),
            "ece": None if ece is None else round(ece, 4),
            "false_confident": false_confident_rate(cs, ys, [True] * len(cs), confident_at),
            "confident_at": confident_at, "bins": reliability_bins(cs, ys, bins)}
