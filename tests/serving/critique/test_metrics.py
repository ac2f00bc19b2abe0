import pytest

from serving.critique.metrics import auroc, coverage, expected_calibration_error, false_confident_rate


def test_auroc_matches_the_pairwise_definition_with_ties():
    scores = [0.1, 0.4, 0.4, 0.8, 0.9, 0.3]
    labels = [False, True, False, True, True, False]
    pairs = [(p, n) for p, yp in zip(scores, labels) if yp for n, yn in zip(scores, labels) if not yn]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert auroc(scores, labels) == pytest.approx(expected)


def test_auroc_is_undefined_with_one_class():
    assert auroc([0.2, 0.9], [True, True]) is None


def test_ece_is_zero_when_confidence_equals_accuracy_per_bin():
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.95] * 2, [False, False]) == pytest.approx(0.95)


def test_false_confident_counts_only_wrong_answers_shown_with_a_high_number():
    confidences = [0.9, 0.9, 0.69, None, 0.99]
    labels = [False, False, False, False, True]
    shown = [True, False, True, False, True]  # the second was "not verified": no number shown
    assert false_confident_rate(confidences, labels, shown, at=0.7) == 0.25
    assert false_confident_rate([0.9], [True], [True]) is None


def test_coverage_is_the_share_with_a_verdict():
    assert coverage(["unverified", "unverified", "right", "wrong"]) == 0.5
    assert coverage([]) is None
