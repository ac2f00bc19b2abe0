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


def test_perplexity_refusal_names_its_guard_the_measured_rise_and_the_limit():
    decision = gate(report([i < 40 for i in range(200)], 10.6), LIVE, ppl_tolerance=0.05)
    assert decision.failed_guards == ["perplexity"]
    ppl = next(g for g in decision.guards if g.guard == "perplexity")
    assert (round(ppl.value, 3), ppl.limit, ppl.bound, round(ppl.by, 3)) == (0.06, 0.05, "max", 0.01)
    assert decision.reasons == ["general-text perplexity rose +6.0%, over the +5.0% limit by 1.0 pts"]


def test_margin_refusal_says_how_far_short_the_gain_is():
    decision = gate(report([i < 10 for i in range(200)]), LIVE, margin=0.02, require_significant=False)
    margin = next(g for g in decision.guards if g.guard == "accuracy_margin")
    assert decision.failed_guards == ["accuracy_margin"]
    assert round(margin.value, 3) == 0.01 and round(margin.by, 3) == 0.01 and "short by 0.010" in margin.message


def test_a_pass_lists_every_guard_as_passed_with_its_headroom():
    decision = gate(report([i < 30 for i in range(200)], 10.3), LIVE)
    assert [g.guard for g in decision.guards] == ["shared_questions", "accuracy_margin", "significance", "perplexity"]
    assert all(g.passed and g.by <= 0 for g in decision.guards)


def test_stored_decision_carries_guards_and_their_excess():
    stored = gate(report([i < 11 for i in range(200)], 12.0), LIVE).to_dict()
    assert stored["failed_guards"] == ["accuracy_margin", "significance", "perplexity"]
    ppl = next(g for g in stored["guards"] if g["guard"] == "perplexity")
    assert ppl["passed"] is False and round(ppl["by"], 3) == 0.15 and round(ppl["value"], 3) == 0.2


def test_failed_guards_reads_decisions_stored_before_guards():
    from training.gate import failed_guards

    old = {"promotable": False, "reasons": ["strict accuracy gain +0.005 is below the margin 0.020",
                                            "gain not significant (McNemar p=0.5 >= 0.05)"]}
    assert failed_guards(old) == ["accuracy_margin", "significance"]
    assert failed_guards({"promotable": True, "reasons": ["strict accuracy +0.1"]}) == []
    assert failed_guards(None) == []
