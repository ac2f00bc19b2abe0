"""How the work combines the question's quantities (``serving.critique.relations``), through the step checker, on
hand-written answers: each wrong answer beside a right one to the same question (a check that also fires on the
right answer would only add noise). None of these problems is in a dev set."""

from __future__ import annotations

from fractions import Fraction

import pytest

from serving.critique.relations import given_copies
from serving.critique.steps import check_steps, check_steps_part

PARTY = ("Leo buys 2 pizzas for $9 each and 2 salads for $4 each. He has a coupon for $2 off. "
         "He pays with a $50 bill. How much change does he get?")
PHONE = ("A gym charges $30 a month, and each class costs $6. In May, Ana took 5 classes and bought a $30 towel. "
         "How many dollars did she spend in May?")
TICKETS = ("A bus ticket costs $3 one way. Children pay half price. A family of 2 adults and 2 children makes a "
           "round trip, which costs twice a one-way trip. How many dollars do they pay?")
AGES = "Mia is 5 years younger than three times her brother's age. Her brother is 7. How old is Mia?"
ORCHARD = ("An orchard has 300 trees. A quarter of them are apple trees, and 2/5 of the remaining trees are pears. "
           "How many pear trees are there?")
SHIRT = "Sara paid $36 for a shirt after a 25% discount. How many dollars did she save?"


@pytest.mark.parametrize("question, right, wrong, flagged", [
    (PARTY, "2 × 9 = 18; 2 × 4 = 8; 18 + 8 = 26; 26 − 2 = 24; 50 − 24 = 26. The answer is 26.",
     "2 × 9 = 18; 2 × 4 = 8; 18 + 8 = 26; 50 − 26 = 24. The answer is 24.", "2 (given 3 times, used 2)"),
    (PHONE, "Classes: 5 × 6 = 30. Total: 30 + 30 + 30 = 90. The answer is 90.",
     "Classes: 5 × 6 = 30. Total: 30 + 30 = 60. The answer is 60.", "30 (given 2 times, used 1)"),
    (TICKETS, "Child: 3 / 2 = 1.5. Adults: 2 × 3 = 6. Children: 2 × 1.5 = 3. One way: 6 + 3 = 9. "
              "Round trip: 9 × 2 = 18. The answer is 18.",
     "Child: 3 / 2 = 1.5. Adults: 2 × 3 = 6. Children: 2 × 1.5 = 3. Total: 6 + 3 = 9. The answer is 9.",
     "half/2/twice (given 4 times, used 3)"),
])
def test_a_quantity_given_again_or_computed_again_is_still_needed(question: str, right: str, wrong: str,
                                                                   flagged: str) -> None:
    assert check_steps(right, question).unused == []
    assert any(u.startswith(flagged) for u in check_steps(wrong, question).unused)


def test_a_number_written_again_for_the_same_thing_is_one_quantity() -> None:
    q = "A hotel has 40 rooms. Each of the 40 rooms needs 3 towels. Ann paints 4 rooms a day. How long for all 40 rooms?"
    copies = given_copies(q)
    assert copies[("40", (Fraction(40),))] == 1  # "the 40 rooms" and the asking sentence point back
    assert check_steps("40 × 3 = 120 towels; 40 / 4 = 10 days. The answer is 10.", q).unused == []


@pytest.mark.parametrize("question, right, wrong, words", [
    (AGES, "3 × 7 = 21; 21 − 5 = 16. The answer is 16.", "7 − 5 = 2; 3 × 2 = 6. The answer is 6.", "wrong order"),
    (ORCHARD, "300 / 4 = 75 apple trees; 300 − 75 = 225 left; 2/5 × 225 = 90. The answer is 90.",
     "300 / 4 = 75 apple trees; 2/5 × 300 = 120. The answer is 120.", "share of what is left"),
    (SHIRT, "She paid 75%: 36 / 0.75 = 48; 48 − 36 = 12. The answer is 12.",
     "0.25 × 36 = 9. The answer is 9.", "price before the change"),
])
def test_a_relation_worked_the_wrong_way_is_doubted(question: str, right: str, wrong: str, words: str) -> None:
    assert check_steps_part(right, question).data["misfit"] == []
    reasons = check_steps_part(wrong, question).data["misfit"]
    assert any(words in r for r in reasons), reasons
    assert check_steps_part(wrong, question).score < check_steps_part(right, question).score
