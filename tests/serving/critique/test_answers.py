import pytest

from serving.critique.answers import (answer_match_part, answers_equivalent, extract_answer, extract_reference,
                                      gsm8k_reference, normalize_answer)


@pytest.mark.parametrize("text,expected", [
    ("So 37 + 48 = 85. The answer is 85.", "85"),
    (r"Thus $\boxed{\frac{3}{4}}$.", r"\frac{3}{4}"),
    (r"\boxed{1} then \boxed{2}", "2"),
    ("She earns 1,200 dollars.\n#### 1,200", "1200"),
    ("所以答案是 42。", "42"),
    ("所以他一共有 12 个。答：12", "12"),
    ("Final answer: 7", "7"),
    ("First 3 + 4 = 7, then 7 * 2 = 14", "14"),
    ("Half of it: 25%", "25%"),
])
def test_extract_answer_finds_the_final_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_without_fallback_needs_an_explicit_statement():
    assert extract_answer("it ends with 14", fallback=False) is None


def test_gsm8k_reference_reads_marker():
    assert gsm8k_reference("48/2 = <<48/2=24>>24 clips\n#### 72") == "72"
    assert gsm8k_reference("no marker here") is None


@pytest.mark.parametrize("pred,ref", [
    ("85", "85"),
    ("1,000", "1000"),
    ("85.0", "85"),
    ("0.5", "1/2"),
    (r"\frac{3}{4}", "0.75"),
    ("25%", "0.25"),
    ("25%", "25"),
    ("$12.50", "12.5"),
    ("12 apples", "12"),
    ("5 cm", "5"),
    ("x = 5", "5"),
    ("12个", "12"),
    (r"\{1, 2, 3\}", r"\{3, 2, 1\}"),
    ("[1, 2]", "[1, 2]"),
    ("x^2 + 2x", "x(x + 2)"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
])
def test_answers_equivalent_accepts_same_value(pred, ref):
    assert answers_equivalent(pred, ref)


@pytest.mark.parametrize("pred,ref", [
    ("84", "85"),
    ("1,001", "1000"),
    ("0.76", "3/4"),
    (r"\{1, 2\}", r"\{1, 2, 3\}"),
    ("(1, 2)", "[1, 2]"),
    ("x^2", "2x"),
])
def test_answers_equivalent_rejects_different_value(pred, ref):
    assert not answers_equivalent(pred, ref)


def test_answers_equivalent_none_is_never_equal():
    assert not answers_equivalent(None, "5")
    assert not answers_equivalent("5", None)


def test_normalize_answer_strips_currency_and_thousands():
    assert normalize_answer("$1,250") == "1250"


def test_extract_reference_ignores_prose_without_marker():
    long_prose = "这是一个证明题。" * 10 + "因此命题成立，共有 3 种情况。"
    assert extract_reference(long_prose) is None
    assert extract_reference("85") == "85"


def test_answer_match_part_scores_match_and_mismatch():
    assert answer_match_part("37 + 48 = 85. The answer is 85.", "85").score == 10.0
    assert answer_match_part("37 + 48 = 84. The answer is 84.", "85").score == 1.0
    assert answer_match_part("anything", None).score is None


def test_answer_without_any_final_result_is_wrong_against_a_reference():
    assert answer_match_part("I am not sure how to do this.", "85").score == 1.0


def test_long_answer_that_never_states_the_reference_is_wrong():
    rambling = "Let us think about the trees and the rows for a while. " * 15 + "So 1 + 10 = 11 were added."
    assert answer_match_part(rambling, "40").score == 1.0
    assert answer_match_part(rambling + " The answer is 40.", "40").score == 10.0


@pytest.mark.parametrize("text", ["12 - 12 = 0 apples left. The answer is N", "So 3 * 4 = 12. The answer is x.",
                                  "Final answer: ?", r"The answer is $\boxed{N}$", "The answer is [answer]."])
def test_a_stated_placeholder_is_no_final_answer_and_no_last_number_replaces_it(text):
    assert extract_answer(text) is None
    assert answer_match_part(text, "31").score == 1.0


def test_a_placeholder_the_work_binds_is_its_value():
    assert extract_answer("Let x = 36 - 5 = 31. The answer is x.") == "31"
    assert extract_answer("(A) 12 (B) 31 (C) 36. The answer is B") == "B"
    assert extract_answer(r"The answer is $e$.") == "e"
