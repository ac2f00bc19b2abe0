import pytest

from mathchat.settings import VerdictSettings
from serving.critique.types import PartScore
from serving.critique.verdict import RIGHT, UNVERIFIED, WRONG, corroboration, decide_verdict, red_flags


def steps(n: int = 2, **data) -> PartScore:
    base = {"n_equations": n, "wrong": [], "final_supported": True, "has_final": True, "ungrounded": [], "unused": []}
    return PartScore("steps", 10.0, data={**base, **data})


def consistency(agree: int, k: int = 4) -> PartScore:
    return PartScore("consistency", 1 + 9 * agree / k, data={"k": k, "agree": agree, "fraction": agree / k})


def test_corroborated_confident_answer_is_right():
    assert decide_verdict({"steps": steps(2)}, 0.9, True).name == RIGHT
    assert decide_verdict({"steps": steps(0), "consistency": consistency(4)}, 0.9, True).name == RIGHT


@pytest.mark.parametrize("parts", [
    {"steps": steps(1)},  # one step corroborates nothing
    {"steps": PartScore("steps", None, data={"has_final": True})},  # no arithmetic at all
    {"steps": steps(1), "consistency": consistency(2)},  # samples split
    {"steps": steps(1), "consistency": consistency(2, k=2)},  # too few samples
])
def test_confident_answer_without_corroboration_is_unverified(parts):
    verdict = decide_verdict(parts, 0.95, True)
    assert verdict.name == UNVERIFIED and "no reference answer" in verdict.reasons


@pytest.mark.parametrize("flag", [{"ungrounded": ["7"]}, {"unused": ["1.2"]}, {"final_supported": False},
                                  {"wrong": [{"text": "12 * 3 = 32", "early": True}]}])
def test_a_red_flag_keeps_a_confident_answer_from_being_right(flag):
    assert decide_verdict({"steps": steps(3, **flag)}, 0.97, True).name == UNVERIFIED


def test_uncertain_middle_band_is_unverified_even_when_corroborated():
    verdict = decide_verdict({"steps": steps(3)}, 0.55, True)
    assert verdict.name == UNVERIFIED and any("uncertain" in r for r in verdict.reasons)


def test_low_confidence_on_evidence_is_wrong_but_on_no_evidence_unverified():
    assert decide_verdict({"steps": steps(2)}, 0.1, False).name == WRONG
    nothing = {"steps": PartScore("steps", None, data={}), "judge": PartScore("judge", 3.0)}
    assert decide_verdict(nothing, 0.1, False).name == UNVERIFIED


def test_definite_defects_are_wrong_whatever_the_confidence():
    assert decide_verdict({"steps": steps(2, final_tainted=True)}, 0.9, True).name == WRONG
    assert decide_verdict({"steps": PartScore("steps", None, data={"final_placeholder": "N"})}, None, None).name == WRONG


def test_checked_reference_decides():
    match = PartScore("answer_match", 10.0)
    assert decide_verdict({"answer_match": match, "steps": steps(1)}, 0.6, True).name == RIGHT
    assert decide_verdict({"answer_match": PartScore("answer_match", 1.0)}, 0.9, False).name == WRONG


def test_unscored_has_no_verdict():
    assert decide_verdict({"steps": PartScore("steps", None, data={})}, None, None) is None


def test_thresholds_come_from_settings():
    strict = VerdictSettings(confident_at=0.95, min_checked_steps=3)
    assert decide_verdict({"steps": steps(3)}, 0.9, True, strict).name == UNVERIFIED
    assert decide_verdict({"steps": steps(2)}, 0.97, True, strict).name == UNVERIFIED
    assert decide_verdict({"steps": steps(3)}, 0.97, True, strict).name == RIGHT


def test_red_flags_and_corroboration_say_why_in_words():
    assert red_flags(steps(2, ungrounded=["7"])) == ["numbers that appear from nowhere (7)"]
    assert corroboration({"consistency": consistency(3)}, VerdictSettings()) == ["3 of 4 fresh samples reach the same answer"]


def test_an_uncheckable_reference_is_named_as_such():
    parts = {"answer_match": PartScore("answer_match", None), "steps": steps(1)}
    assert decide_verdict(parts, 0.9, True).reasons[0] == "the reference states no checkable final answer"
