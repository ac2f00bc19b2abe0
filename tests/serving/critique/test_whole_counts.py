from fractions import Fraction

import pytest

from serving.critique.whole_counts import InexactResult, counts_taken, rounded_against_question, rounding_direction


@pytest.mark.parametrize("question,direction", [
    ("Juice comes in 250 mL cartons. How many cartons of juice are needed?", "up"),
    ("How many boards must he buy?", "up"),
    ("How many weeks will it take until she has enough money for the bike?", "up"),
    ("He watches at most 2 hours each night. How many nights will it take him to finish?", "up"),
    ("Each batch needs 3/4 cup of sugar and she has 10 cups. How many full batches can she make?", "down"),
    ("How many small candles can she make with the wax that is left?", "down"),
    ("He sells the eggs only in full dozens for $3.50 a dozen. How much money does he make in a week?", "down"),
    ("How many apples are left?", None),  # nothing to round
    ("How many buses are needed, rounded to the nearest bus?", None),  # the question rounds itself
    ("Each box holds 12. How many full boxes does she need?", None),  # both ways in the asking sentence
])
def test_the_question_decides_the_way_a_count_is_rounded(question: str, direction: str | None) -> None:
    assert rounding_direction(question) == direction


def _result(written: str, value: Fraction, *goes_on_with: int) -> list[InexactResult]:
    return [InexactResult(written, value, frozenset(map(Fraction, goes_on_with)))]


def test_the_count_taken_is_what_the_work_goes_on_with() -> None:
    value = Fraction(144, 5)  # 7200 / 250
    cartons = _result("28.8", value, 28, 29)
    assert counts_taken("7200 / 250 = 28.8, so we need \\(\\boxed{28}\\) cartons.", cartons) == [(value, 28)]
    # the floor named only to reject it: the last whole count written is the one taken
    assert counts_taken("= 28.8. 28 cartons would only hold 7000 mL, so 29.", cartons) == [(value, 29)]
    assert counts_taken("= 28.8; rounding up gives 28 plus one.", cartons) == [(value, 29)]
    assert counts_taken("= 28.8 litres in all, 0.8 of them spare.", cartons) == []
    assert counts_taken("no such value here", cartons) == []
    assert counts_taken("= 128.8, so 28 more", cartons) == []  # "28.8" inside another number is not it
    # a whole number after the value that the work never goes on with is no count taken from it
    assert counts_taken("= 28.8 cartons; 2 of the 29 guests bring their own.", _result("28.8", value, 5)) == []
    assert counts_taken("10 / 3 = 3 and a bit, so 3 boxes", _result("3", Fraction(10, 3), 3)) == []  # no decimal
    # a number in the next piece of arithmetic is an operand, not a count stated
    assert counts_taken("= 1.5 hours a day, and 1.5 × 2 = 3 hours", _result("1.5", Fraction(3, 2), 2)) == []
    assert counts_taken("= 1.5 hours a day, and 1.5 × $2 = $3", _result("1.5", Fraction(3, 2), 2)) == []
    assert counts_taken("= 3.8 hours, or 3 hours and 48 minutes", _result("3.8", Fraction(19, 5), 3)) == []
    assert counts_taken("= 11.25 → about **11** boxes", _result("11.25", Fraction(45, 4), 11)) == [(Fraction(45, 4), 11)]


def test_only_the_way_against_the_question_is_named() -> None:
    q = "How many full batches of muffins can she make?"
    went_up = rounded_against_question(q, "10 / 0.75 = 13.33. Rounding up, 14 batches.",
                                       _result("13.33", Fraction(40, 3), 14))
    assert went_up == (Fraction(40, 3), 14, "down")
    assert rounded_against_question(q, "10 / 0.75 = 13.33, so 13 full batches.",
                                    _result("13.33", Fraction(40, 3), 13)) is None
    assert rounded_against_question("How many muffins?", "10 / 0.75 = 13.33. Rounding up, 14.",
                                    _result("13.33", Fraction(40, 3), 14)) is None
