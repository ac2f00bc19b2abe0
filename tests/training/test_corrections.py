"""training/corrections.py: which student corrections become a question's reference."""

from __future__ import annotations

import pytest

from training.corrections import agreed_references, confirm_arithmetic
from training.pool import question_key

WORD = "Ann has 3 bags of 4 pears. How many pears does she have?"
"""A word problem: nothing symbolic can check it, so only agreement decides."""


def never(question: str, value: str) -> None:
    return None


def rows(*votes: tuple[str, str], question: str = WORD) -> list[tuple[str, str, str]]:
    return [(question, user, value) for user, value in votes]


def test_two_students_agreeing_make_the_reference() -> None:
    decided = agreed_references(rows(("ann", "12"), ("bob", "12.0")))
    assert decided.references == {question_key(WORD): "12"}
    assert (decided.counts.questions, decided.counts.agreed) == (1, 1)


def test_one_student_alone_sets_no_reference() -> None:
    decided = agreed_references(rows(("ann", "12")))
    assert decided.references == {}
    assert decided.counts.waiting == 1


def test_one_student_repeating_herself_is_still_one_vote() -> None:
    again = rows(("ann", "12"), ("ann", "12"), question=WORD.upper())
    assert agreed_references(rows(("ann", "12")) + again).references == {}


def test_a_student_who_changes_her_answer_votes_only_with_the_latest() -> None:
    decided = agreed_references(rows(("ann", "12"), ("bob", "12"), ("ann", "13")))
    assert decided.references == {}
    assert decided.counts.conflicts == 1


def test_two_against_two_is_a_conflict_with_no_reference() -> None:
    decided = agreed_references(rows(("ann", "12"), ("bob", "12"), ("cy", "7"), ("dee", "7")))
    assert decided.references == {}
    assert decided.counts.conflicts == 1


def test_the_strict_majority_wins_when_it_reaches_min_agree() -> None:
    votes = rows(("ann", "12"), ("bob", "12"), ("cy", "12"), ("dee", "7"), ("eve", "7"))
    assert agreed_references(votes).references == {question_key(WORD): "12"}
    assert agreed_references(votes, min_agree=4).references == {}


def test_equivalent_spellings_agree() -> None:
    decided = agreed_references(rows(("ann", "1,000"), ("bob", "1000"), ("cy", "$1000")))
    assert list(decided.references.values()) == ["1,000"]


def test_a_single_correction_the_arithmetic_check_confirms_is_the_reference() -> None:
    decided = agreed_references(rows(("ann", "85"), question="What is 37 + 48?"))
    assert decided.references == {question_key("What is 37 + 48?"): "85"}
    assert (decided.counts.confirmed, decided.counts.agreed) == (1, 0)


def test_students_agreeing_on_a_value_the_arithmetic_check_refutes_set_nothing() -> None:
    decided = agreed_references(rows(("ann", "84"), ("bob", "84"), ("cy", "84"), question="What is 37 + 48?"))
    assert decided.references == {}
    assert decided.counts.refuted == 1


def test_the_confirmed_value_wins_over_a_refuted_majority() -> None:
    question = "What is 37 + 48?"
    decided = agreed_references(rows(("ann", "84"), ("bob", "84"), ("cy", "85"), question=question))
    assert decided.references == {question_key(question): "85"}


def test_prose_is_not_a_usable_correction() -> None:
    decided = agreed_references(rows(("ann", "the number of pears Ann has, which is twelve"), ("bob", "12")),
                                confirm=never)
    assert decided.references == {}
    assert (decided.counts.unusable, decided.counts.waiting) == (1, 1)


def test_counts_add_up_over_questions() -> None:
    votes = (rows(("ann", "12"), ("bob", "12")) + rows(("ann", "5"), question="What is 7 - 2?")
             + rows(("cy", "3"), question="How many sides does a triangle have?"))
    counts = agreed_references(votes).counts
    assert counts.to_dict() == {"questions": 3, "agreed": 1, "confirmed": 1, "conflicts": 0, "refuted": 0,
                                "waiting": 1, "unusable": 0}


def test_confirm_arithmetic_cannot_tell_on_a_word_problem() -> None:
    assert confirm_arithmetic(WORD, "12") is None


def test_min_agree_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="min_agree"):
        agreed_references([], min_agree=0)
