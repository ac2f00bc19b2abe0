from serving.critique.combine import combine_score, explain
from serving.critique.types import PartScore

MATCH = PartScore("answer_match", 10.0, "final answer 85 matches the reference 85")
MISMATCH = PartScore("answer_match", 1.0, "final answer 104 does not match the reference 85")
CLEAN = PartScore("steps", 10.0, data={"wrong": [], "n_equations": 2})
NO_STEPS = PartScore("steps", None, data={"wrong": []})


def wrong_steps(*early: bool, tainted: bool = True) -> PartScore:
    wrong = [{"early": e, "description": f"`1 + 1 = {3 + i}` is wrong: 1 + 1 = 2, not {3 + i}"}
             for i, e in enumerate(early)]
    return PartScore("steps", 2.0, data={"wrong": wrong, "final_tainted": tainted, "n_equations": 3})


def test_reference_wrong_with_early_step_is_band_one_two():
    assert combine_score({"answer_match": MISMATCH, "steps": wrong_steps(True)}, 0.01) in (1, 2)


def test_reference_wrong_with_only_late_steps_is_band_three_five():
    assert combine_score({"answer_match": MISMATCH, "steps": wrong_steps(False)}, 0.1) in (3, 4, 5)


def test_reference_wrong_without_visible_slip_is_early_error():
    assert combine_score({"answer_match": MISMATCH, "steps": CLEAN}, 0.4) in (1, 2)


def test_reference_right_with_wrong_step_is_band_six_eight_and_passes_once():
    assert combine_score({"answer_match": MATCH, "steps": wrong_steps(True, tainted=False)}, 0.9) == 7
    assert combine_score({"answer_match": MATCH, "steps": wrong_steps(True, False, tainted=False)}, 0.9) == 6


def test_reference_right_and_clean_is_band_nine_ten():
    assert combine_score({"answer_match": MATCH, "steps": CLEAN}, 0.99) == 10
    assert combine_score({"answer_match": MATCH, "steps": NO_STEPS}, 0.99) == 9


def test_judge_moves_score_only_inside_its_band():
    low_judge = PartScore("judge", 1.0)
    high_judge = PartScore("judge", 10.0)
    assert combine_score({"answer_match": MATCH, "steps": CLEAN, "judge": low_judge}, 0.99) == 9
    assert combine_score({"answer_match": MISMATCH, "steps": wrong_steps(True), "judge": high_judge}, 0.01) == 2


def test_without_reference_confidence_decides_pass():
    assert combine_score({"steps": CLEAN}, 0.95) == 10
    assert combine_score({"steps": CLEAN}, 0.6) == 9
    assert combine_score({"steps": CLEAN}, 0.3) < 7
    assert combine_score({"steps": wrong_steps(True)}, 0.05) in (1, 2)
    assert combine_score({"steps": wrong_steps(False)}, 0.3) in (3, 4, 5)


def test_no_part_scored_means_unscored():
    assert combine_score({"steps": NO_STEPS, "judge": PartScore("judge", None)}, 0.5) is None


def test_explanation_names_every_wrong_step():
    parts = {"answer_match": MISMATCH, "steps": wrong_steps(True, False)}
    text = explain(parts, 1, "Wrong answer; the error comes early")
    assert "`1 + 1 = 3`" in text and "`1 + 1 = 4`" in text
    assert "does not match the reference" in text
