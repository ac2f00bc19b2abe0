"""Does an answer fit what its question asks: the checks that need no reference, on hand-written answers, right
ones beside wrong ones (a check that also fires on the right answer would only add noise)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from serving.critique.plausibility import asked_unit, difference_not_taken, fractional_count, unconverted_unit
from serving.critique.steps import check_steps, check_steps_part, misfit_reasons
from serving.critique.units import conversion_factors, same_dimension
from serving.critique.verdict import red_flags

POOL = "A pool is 25 m long. Ben swims 18 lengths on Monday and 24 on Wednesday. How many kilometers did he swim in all?"
BOTTLE = "A water bottle holds 750 mL. Peter drinks 4 bottles a day. How many liters does he drink in a week?"


@pytest.mark.parametrize("question, answer, expected", [
    (POOL, "Lengths: 18 + 24 = 42. Distance: 42 × 25 = 1050. The answer is 1050.", "kilometers"),
    (POOL, "18 + 24 = 42 lengths; 42 × 25 = 1050 m = 1.05 km. The answer is 1.05.", None),
    (POOL, "42 × 25 = 1050, and 1050 / 1000 = 1.05. The answer is 1.05.", None),  # the factor, no unit word
    (BOTTLE, "Per day: 4 × 750 = 3000 mL. Per week: 3000 × 7 = 21000. The answer is 21000.", "liters"),
    (BOTTLE, "4 × 750 = 3000 mL = 3 L a day; 3 × 7 = 21 L. The answer is 21.", None),
    ("Henry walks 35 minutes every morning. How many hours does he walk in 2 weeks?",
     "35 × 14 = 490 minutes, 490 / 60 = 8.17. The answer is 8.17.", None),
    ("He drives 3 km to work. How many km does he drive in 5 days?", "3 × 2 × 5 = 30. The answer is 30.", None),
    ("Tom has 3 boxes of 12 apples. How many apples?", "3 × 12 = 36. The answer is 36.", None),
])
def test_an_answer_left_in_the_wrong_unit_is_found(question: str, answer: str, expected: str | None) -> None:
    assert unconverted_unit(question, answer) == expected


def test_units_know_their_kind_and_the_factors_between_them() -> None:
    assert asked_unit("How long is the trip, in minutes?") == ("minutes", "minute")
    assert same_dimension("ml", "l") and not same_dimension("ml", "kg")
    assert conversion_factors("minute", "day") == {Fraction(60), Fraction(24), Fraction(1440)}
    assert conversion_factors("month", "year") >= {Fraction(12)} and conversion_factors("m", "pound") == set()


def test_a_count_that_is_not_whole_is_doubted_but_a_measure_is_not() -> None:
    assert fractional_count("How many texts did she send?", Fraction(33, 2)) == "texts"
    assert fractional_count("How many liters are left?", Fraction(5, 2)) is None
    assert fractional_count("How many times faster is she?", Fraction(5, 2)) is None
    assert fractional_count("How much does he earn?", Fraction(375, 2)) is None


def test_a_difference_asked_for_needs_a_step_that_subtracts() -> None:
    q = "Sam and Lee have 56 stickers together. Sam has 3 times as many as Lee. How many more stickers does Sam have?"
    assert difference_not_taken(q, ["L + 3L = 56", "3 * 14 = 42"])
    assert not difference_not_taken(q, ["3 * 14 = 42", "42 - 14 = 28"])
    assert not difference_not_taken(q, ["3L − L = 2L", "2 * 14 = 28"])
    assert not difference_not_taken("How many stickers does Sam have?", ["3 * 14 = 42"])
    assert not difference_not_taken(q, []), "no shown work: nothing to say"


def test_a_rounded_intermediate_step_is_doubted_and_a_rounded_final_one_is_not() -> None:
    inter = check_steps("One costs 9 / 24 = 0.38. So 60 cost 60 × 0.38 = 22.8. The answer is 22.8.")
    assert inter.rounded == ["9 / 24 = 0.38"] and not inter.wrong
    assert check_steps("10 / 3 = 3.33. The answer is 3.33.").rounded == []
    assert check_steps("56 × 1/4 = 14. Then 56 - 14 = 42. The answer is 42.").rounded == []


def test_a_unit_conversion_that_is_not_true_is_doubted_and_a_true_or_rounded_one_is_not() -> None:
    question = "Maya jogs for 75 minutes at 6 miles per hour. How many miles does she jog?"
    decimal = "75 minutes = 0.75 hours. 0.75 × 6 = 4.5 miles. The answer is 4.5."
    part = check_steps_part(decimal, question)
    assert part.data["misfit"] == ["`75 minutes = 0.75 hours` is not a true conversion"] and part.score == 5.0
    assert "`75 minutes = 0.75 hours` is not a true conversion" in red_flags(part)
    for right in ("75 minutes = 1.25 hours. 1.25 × 6 = 7.5 miles. The answer is 7.5.",
                  "1 hour 15 minutes = 1.25 hours, and 1.25 × 6 = 7.5. The answer is 7.5.",
                  "100 minutes = 1.67 hours, 1.67 × 6 = 10.02, about 10 miles. The answer is 10."):
        assert check_steps_part(right, question).data["misfit"] == [], right
    board = "A board is 16 inches long. How many feet long are 3 boards?"
    assert check_steps_part("16 inches = 1.6 feet. 3 × 1.6 = 4.8. The answer is 4.8.", board).data["misfit"]
    assert not check_steps_part("16 inches = 4/3 feet. 3 × 16 = 48 inches = 4 feet. The answer is 4.",
                                board).data["misfit"]


def test_the_reasons_reach_the_part_the_flags_and_the_explanation() -> None:
    answer = "Lengths: 18 + 24 = 42. Distance: 42 × 25 = 1050. The answer is 1050."
    part = check_steps_part(answer, POOL)
    assert part.data["misfit"] == ["the question asks for kilometers, and the work never converts to them"]
    assert part.score == 5.0 and "never converts" in part.detail
    assert "the question asks for kilometers, and the work never converts to them" in red_flags(part)
    right = check_steps_part("18 + 24 = 42; 42 × 25 = 1050 m = 1.05 km. The answer is 1.05.", POOL)
    assert right.data["misfit"] == [] and right.score == 10.0
    assert misfit_reasons(check_steps(answer, POOL), answer, None) == [], "no question: only the steps speak"


@pytest.mark.parametrize("answer, question", [
    # markdown bullets are not minus signs
    ("**Step 2**\n- 30 − 22 = 8\n\n**Answer:** 8", "Tom is 22. In how many years will he be 30?"),
    # a rate's unit is not a division, and an algebra line is not a unit word
    ("- Water in: 8 L/min\n- Net rate: 8 − 2 = 6 L/min\n- 120 ÷ 6 = 20 minutes\n**Answer:** 20",
     "A faucet fills a 120-liter tank at 8 liters per minute; a leak drains 2 liters per minute. How many minutes?"),
    ("2(p + 5) + 3p = 40\n5p = 30\np = 6\nA ticket costs 6 + 5 = $11.\nThe answer is 11.",
     "A ticket costs $5 more than popcorn. Two tickets and three popcorns cost $40. How much is a ticket?"),
    # a percentage used as the factor of an increase; a coefficient from the work's own algebra
    ("1.6b = 40, so b = 40 / 1.6 = 25. Total: 40 + 25 = 65. The answer is 65.",
     "A red ribbon is 60% longer than a blue one. The red ribbon is 40 cm. What is their total length?"),
    ("She spent x/3 + x/4 = 7x/12, so 5x/12 = 30 and x = 30 × 12 / 5 = 72. The answer is 72.",
     "Emma spent 1/3 of her money, then 1/4 of it. She has $30 left. How much did she have?"),
])
def test_capable_writers_right_answers_raise_no_flag(answer: str, question: str) -> None:
    part = check_steps_part(answer, question)
    assert part.score == 10.0, part.detail
    assert red_flags(part) == []
