import pytest

from serving.critique.steps import check_steps, evaluate_side, find_equations, steps_part


@pytest.mark.parametrize("text,expected_text", [
    ("37 + 48 = 104", "37 + 48 = 104"),
    ("Natalia sold <<16-3=13>>13 clips", "16-3 = 13"),
    (r"$\frac{3}{4}\times 8 = 6$", "((3)/(4))* 8 = 6"),
    ("3 × 4 = 12", "3 * 4 = 12"),
    ("12÷4=3", "12/4 = 3"),
    ("total = 2 + 3 = 5 = 5", "2 + 3 = 5 = 5"),
    ("1,250 + 50 = 1,300", "1250 + 50 = 1300"),
])
def test_find_equations_recognises_notations(text, expected_text):
    assert [e.text for e in find_equations(text)] == [expected_text]


@pytest.mark.parametrize("text", ["Solve 2x + 3 = 7 for x.", "f(3) = 9", "x = 4", "5 = 5", "On 2024-01-02 we met"])
def test_find_equations_skips_algebra_and_non_computations(text):
    assert find_equations(text) == []


def test_correct_steps_have_no_wrong_step():
    check = check_steps("First, 12 × 7 = 84.\nThen 84 - 66 = 18.\nThe answer is 18.")
    assert check.wrong == []
    assert not check.final_tainted


def test_wrong_first_step_is_early_and_taints_final():
    check = check_steps("First, 12 × 7 = 74.\nThen 74 - 66 = 8.\nThe answer is 8.")
    assert [w.text for w in check.wrong] == ["12 * 7 = 74"]
    assert check.wrong[0].early
    assert check.wrong[0].expected == "84"
    assert check.final_tainted


def test_wrong_last_step_is_late():
    check = check_steps("First, 12 × 7 = 84.\nThen 84 - 66 = 28.\nThe answer is 28.")
    assert len(check.wrong) == 1 and not check.wrong[0].early
    assert check.final_tainted


def test_slip_not_carried_forward_leaves_final_untainted():
    check = check_steps("First, 12 × 7 = 74.\nThen 84 - 66 = 18.\nThe answer is 18.")
    assert len(check.wrong) == 1
    assert not check.final_tainted


def test_chained_equation_checks_every_link():
    check = check_steps("So 2 + 3 = 5 = 6.")
    assert len(check.wrong) == 1 and check.wrong[0].stated == "6"


def test_running_total_is_not_flagged():
    assert check_steps("3 * 4 = 12 + 5 = 17").wrong == []


def test_rounded_decimal_is_accepted():
    assert check_steps("10 / 3 = 3.33").wrong == []
    assert check_steps("10 / 3 = 3.5").wrong != []


def test_percent_operand_is_evaluated():
    assert check_steps("80 × 25% = 20").wrong == []
    assert check_steps("80 × 25% = 25").wrong != []


def test_gsm8k_annotation_is_checked():
    check = check_steps("He has <<16-3=12>>12 eggs left.")
    assert len(check.wrong) == 1


def test_misread_operand_is_reported_as_ungrounded():
    check = check_steps("47 + 12 = 59. The answer is 59.", question="Tom has 74 apples and buys 12 more.")
    assert check.ungrounded == ["47"]


def test_evaluate_side_refuses_huge_powers_and_bad_syntax():
    assert evaluate_side("9^9^9") is None
    assert evaluate_side("3 4") is None
    assert evaluate_side("1/0") is None


def test_steps_part_scores_by_what_it_finds():
    assert steps_part("12 × 7 = 74. 74 - 66 = 8. The answer is 8.").score == 2.0
    assert steps_part("12 × 7 = 84. 84 - 66 = 28. The answer is 28.").score == 4.0
    assert steps_part("12 × 7 = 74. 84 - 66 = 18. The answer is 18.").score == 7.0
    assert steps_part("12 × 7 = 84. 84 - 66 = 18. The answer is 18.").score == 10.0
    assert steps_part("The answer is 18.").score is None


def test_steps_part_names_the_wrong_step():
    part = steps_part("37 + 48 = 104. The answer is 104.")
    assert "37 + 48 = 104" in part.detail and "85" in part.detail


def test_true_value_of_a_slipped_step_counts_as_grounded():
    check = check_steps("12 × 7 = 74. Then 84 - 66 = 18. The answer is 18.",
                        question="A box holds 12 pencils. Sam buys 7 boxes and gives away 66 pencils.")
    assert check.ungrounded == []
