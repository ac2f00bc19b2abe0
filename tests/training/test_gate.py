"""The promotion gate (pure)."""

from training.gate import gate


def report(correct: list[bool], ppl: float | None = 10.0) -> dict:
    return {"items": [{"source": "s", "question_id": str(i), "strict_correct": c} for i, c in enumerate(correct)],
            "perplexity": ppl}


LIVE = report([i < 8 for i in range(200)])  # 4%


def test_clear_significant_gain_with_stable_perplexity_is_promotable():
    decision = gate(report([i < 30 for i in range(200)], 10.3), LIVE, margin=0.02, ppl_tolerance=0.05)
    assert decision.promotable
    assert round(decision.accuracy_delta, 3) == 0.11 and decision.mcnemar_p < 0.001


def test_gain_below_margin_is_not_promotable():
    decision = gate(report([i < 11 for i in range(200)]), LIVE, margin=0.02, require_significant=False)
    assert not decision.promotable and "below the margin" in decision.reasons[0]


def test_insignificant_gain_is_not_promotable_when_significance_required():
    cand = report([i < 13 for i in range(200)])
    assert not gate(cand, LIVE, margin=0.02).promotable
    assert gate(cand, LIVE, margin=0.02, require_significant=False).promotable


def test_perplexity_rise_beyond_tolerance_blocks_promotion():
    decision = gate(report([i < 40 for i in range(200)], 10.6), LIVE, ppl_tolerance=0.05)
    assert not decision.promotable and any("perplexity" in r for r in decision.reasons)
    assert round(decision.perplexity_ratio, 2) == 1.06


def test_missing_perplexity_blocks_promotion():
    assert not gate(report([True] * 200, None), LIVE).promotable


def test_worse_candidate_is_not_promotable():
    assert not gate(report([False] * 200), LIVE, margin=0.0, require_significant=False).promotable


def test_reports_without_shared_questions_are_not_promotable():
    other = {"items": [{"source": "x", "question_id": "0", "strict_correct": True}], "perplexity": 10.0}
    assert not gate(other, LIVE).promotable
