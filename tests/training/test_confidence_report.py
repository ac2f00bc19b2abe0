"""Reliability bins, ECE and the by-question folds on hand-written confidences; the cross-fitted calibration of
the verifier's evaluation on hand-written rows (no model)."""

from __future__ import annotations

import pytest

from training.confidence_report import confidence_report, question_folds, reliability_bins
from training.stats import wilson_interval
from training.verifier import confidence_evaluation, cross_fit_confidences


def test_a_perfectly_calibrated_set_has_zero_ece() -> None:
    # 1 of 4 right at 0.25, 3 of 4 right at 0.75: each bin's right-rate equals its confidence
    confs = [0.25] * 4 + [0.75] * 4
    labels = [True, False, False, False, True, True, True, False]
    report = confidence_report(confs, labels)
    assert report["ece"] == pytest.approx(0.0)
    filled = [b for b in report["bins"] if b["n"]]
    assert [(b["lo"], b["n"], b["confidence"], b["rate"]) for b in filled] == [(0.2, 4, 0.25, 0.25),
                                                                              (0.7, 4, 0.75, 0.75)]


def test_an_overconfident_set_has_the_hand_computed_ece() -> None:
    # bin 0.9: 4 answers at 0.9, 1 right -> gap 0.65; bin 0.1: 4 at 0.1, none right -> gap 0.1; ECE = (0.65+0.1)/2
    confs = [0.9] * 4 + [0.1] * 4
    labels = [True, False, False, False] + [False] * 4
    report = confidence_report(confs, labels)
    assert report["ece"] == pytest.approx(0.375)
    assert report["false_confident"] == pytest.approx(3 / 7, abs=1e-4)  # 3 of 7 wrong answers shown at 0.9
    assert report["n"] == 8 and report["right"] == 1 and report["auroc"] == pytest.approx(0.7857, abs=1e-4)


def test_bins_cover_zero_to_one_in_ten_equal_widths_with_empty_ones_listed() -> None:
    bins = reliability_bins([0.0, 0.55, 1.0], [False, True, True])
    assert len(bins) == 10 and bins[0]["lo"] == 0.0 and bins[-1]["hi"] == 1.0
    assert [b["n"] for b in bins] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert bins[1] == {"lo": 0.1, "hi": 0.2, "n": 0, "confidence": None, "rate": None, "ci": None}


def test_a_bins_interval_is_the_wilson_interval_of_its_right_rate() -> None:
    bins = reliability_bins([0.81, 0.82, 0.83, 0.84, 0.85], [True, True, True, False, True])
    low, high = wilson_interval(4, 5)
    assert bins[8]["rate"] == 0.8 and bins[8]["ci"] == [round(low, 4), round(high, 4)]
    assert bins[8]["ci"][0] < 0.8 < bins[8]["ci"][1]


def test_rows_without_a_confidence_are_left_out_and_counted() -> None:
    report = confidence_report([None, 0.3, None], [True, False, True])
    assert report["n"] == 1 and report["left_out"] == 2 and report["auroc"] is None


def test_an_empty_report_has_no_ece_and_ten_empty_bins() -> None:
    report = confidence_report([], [])
    assert report["ece"] is None and report["false_confident"] is None and [b["n"] for b in report["bins"]] == [0] * 10


def test_folds_keep_every_answer_of_a_question_together_and_balance_the_questions() -> None:
    ids = [f"q{i % 7}" for i in range(30)]
    folds = question_folds(ids, 2)
    by_question: dict[str, set[int]] = {}
    for q, f in zip(ids, folds):
        by_question.setdefault(q, set()).add(f)
    assert all(len(fs) == 1 for fs in by_question.values())
    per_fold = [sum(1 for fs in by_question.values() if f in fs) for f in (0, 1)]
    assert sorted(per_fold) == [3, 4]
    assert question_folds(list(reversed(ids)), 2) == list(reversed(folds))  # order of rows does not matter


def _rows(n: int) -> list[dict]:
    """Two answers per question; a wrong answer states no final value half the time."""
    return [{"id": f"r{i}", "question_id": f"q{i // 2}", "label": i % 3 == 0,
             "features": {"has_final": 1.0 if i % 3 == 0 or i % 2 else 0.0, "steps_checked": 1.0}}
            for i in range(n)]


def test_cross_fitting_judges_a_question_with_a_fit_that_never_saw_it() -> None:
    # Only question "qx" carries steps_unsupported, and its answers are right: a fit that saw qx would learn
    # the flag and move qx's confidence; out of sample, the flag has no weight and qx's confidence cannot move.
    def rows(flag: float) -> list[dict]:
        out = _rows(24)
        out += [{"id": f"x{i}", "question_id": "qx", "label": True,
                 "features": {"has_final": 1.0, "steps_checked": 1.0, "steps_unsupported": flag}} for i in range(2)]
        return out

    probs = [0.8 if r["label"] else 0.3 for r in rows(0.0)]
    flagged, plain = cross_fit_confidences(rows(1.0), probs), cross_fit_confidences(rows(0.0), probs)
    assert flagged[-2:] == pytest.approx(plain[-2:])
    assert flagged[:-2] != pytest.approx(plain[:-2])  # the other fold's fit did see qx (it is in sample there)


def test_cross_fitting_leaves_a_fold_unscored_when_the_others_hold_one_label() -> None:
    rows = [{"id": "a", "question_id": "qa", "label": True, "features": {}},
            {"id": "b", "question_id": "qb", "label": False, "features": {}}]
    assert cross_fit_confidences(rows, [0.9, 0.1]) == [None, None]


def test_the_confidence_evaluation_reports_the_raw_verifier_and_the_calibrated_confidence() -> None:
    rows = _rows(40)
    probs = [0.8 if r["label"] else 0.3 for r in rows]
    out = confidence_evaluation(rows, probs)
    assert out["folds"] == 2 and out["split"] == "by question"
    raw, calibrated = out["verifier"], out["calibrated"]
    assert raw["n"] == calibrated["n"] == 40 and raw["auroc"] == 1.0
    # the raw verifier says 0.8 for right answers (all right) and 0.3 for wrong ones (none right)
    assert raw["ece"] == pytest.approx((14 * 0.2 + 26 * 0.3) / 40, abs=1e-4)
    assert calibrated["auroc"] == 1.0 and calibrated["ece"] < raw["ece"]
