"""sampling_plan: mixed questions, the stop tally, pass rates and the round plan (hand-written rates)."""

import pytest

from training.samples import PassRule, ScoredSample
from training.sampling_plan import MixedTally, expected_rows, mixed_probability, pass_rates, plan_round


def group(*scores, confidence=None, verified=None, truncated=()):
    """One question's samples with these scores (index i truncated when i is in ``truncated``)."""
    return [ScoredSample("q", "?", f"answer {i}", v, confidence=confidence, verified=verified,
                         finish_reason="length" if i in truncated else "stop") for i, v in enumerate(scores)]


def test_is_mixed_ignores_unscored_and_truncated_samples():
    rule = PassRule()
    assert rule.is_mixed(group(7, 6, None)) and not rule.is_mixed(group(7, None))
    assert not rule.is_mixed(group(None, None)) and not rule.is_mixed(group(9, 2, truncated=(1,)))


def test_tally_reaches_its_target_only_with_mixed_questions():
    tally = MixedTally(target=2)
    for scores in ((9, 9), (1, 1), (9, 1)):
        tally.add(group(*scores))
    assert (tally.mixed, tally.seen, tally.reached) == (1, 3, False)
    tally.add(group(2, 8))
    assert tally.reached


def test_tally_does_not_count_passes_no_confidence_backs():
    """A logged question (no reference) whose passing score comes at confidence 0.6 gives RFT no row: with the
    cycle's rule it is not mixed, so the round keeps sampling instead of stopping on it."""
    tally = MixedTally(target=1, rule=PassRule(7, 0.8))
    tally.add(group(9, 2, confidence=0.6))
    assert (tally.mixed, tally.reached) == (0, False)
    tally.add(group(9, 2, confidence=0.9))
    assert tally.reached
    checked = MixedTally(target=1, rule=PassRule(7, 0.8))
    checked.add(group(9, 2, confidence=0.6, verified=True))  # a reference checked it: the confidence is moot
    assert checked.reached


def test_tally_without_target_never_stops():
    tally = MixedTally(target=None)
    tally.add(group(9, 1))
    assert not tally.reached


def test_pass_rates_are_smoothed_so_none_is_zero_or_one():
    assert pass_rates([group(1, 1, 1, 1), group(9, 9, 9, 9)]) == [pytest.approx(0.1), pytest.approx(0.9)]


def test_pass_rates_count_by_the_rule():
    unsure = group(9, 9, 9, 9, confidence=0.6)
    assert pass_rates([unsure]) == [pytest.approx(0.9)]
    assert pass_rates([unsure], PassRule(7, 0.8)) == [pytest.approx(0.1)]


@pytest.mark.parametrize("p,k", [(0.1, 2), (0.3, 4), (0.7, 8)])
def test_mixed_probability_is_one_minus_all_pass_and_all_fail(p, k):
    assert mixed_probability(p, k) == pytest.approx(1 - p ** k - (1 - p) ** k)


def test_expected_rows_caps_passes_per_question():
    # k = 3, p = 0.5: one pass 3/8, two passes 3/8 (all three pass is not mixed)
    assert expected_rows(0.5, 3, max_per_question=2) == pytest.approx(3 / 8 + 2 * 3 / 8)
    assert expected_rows(0.5, 3, max_per_question=1) == pytest.approx(6 / 8)


def test_plan_round_needs_more_questions_for_a_lower_yield():
    easy = plan_round([0.3] * 10, target_mixed=30, available=1000, ks=(4,))
    hard = plan_round([0.05] * 10, target_mixed=30, available=1000, ks=(4,))
    assert hard.questions > easy.questions and easy.expected_mixed >= 30 and hard.expected_mixed >= 30


def test_plan_round_prefers_fewer_samples_per_row_then_smaller_k():
    plan = plan_round([0.3] * 20 + [0.05] * 20, target_mixed=40, available=500)
    assert plan.k == 3  # k = 3 and 4 tie on rows per sample; 2 and 6 give fewer


def test_plan_round_takes_a_larger_k_when_questions_are_short():
    plan = plan_round([0.3] * 20 + [0.05] * 20, target_mixed=40, available=100)
    assert plan.k == 6 and plan.questions <= 100


def test_plan_round_with_too_few_questions_for_any_k_finds_the_most_mixed():
    plan = plan_round([0.05] * 10, target_mixed=100, available=50, ks=(2, 8))
    assert plan.k == 8 and plan.questions == 50


def test_plan_round_without_rates_or_target_plans_nothing():
    assert plan_round([], target_mixed=10, available=100) is None
    assert plan_round([0.2], target_mixed=0, available=100) is None
