"""Arithmetic chat questions get a computed reference, and the critic then catches wrong final answers."""

from __future__ import annotations

import pytest

from serving.critique.critic import MathCritic
from serving.critique.question_solver import solve_arithmetic_question
from mathchat.settings import CritiqueSettings


@pytest.mark.parametrize(("question", "value"), [
    ("What is 25 + 17?", "42"), ("37+48=?", "85"), ("Compute (12 - 4) * 3", "24"), ("what's 100 ÷ 8?", "25/2"),
    ("计算 6 × 7", "42"), ("Evaluate 2 - 5.", "-3"), ("What is 0.5 + 0.25?", "3/4"),
])
def test_solves_plain_arithmetic(question: str, value: str) -> None:
    assert solve_arithmetic_question(question) == value


@pytest.mark.parametrize("question", [
    "What is 25 + 17 apples and 3 pears?", "Solve x + 3 = 5", "What is 1/0?", "Why is 2 + 2 = 4?", "",
    "A train goes 60 km in 2 hours. What is its speed?",
])
def test_leaves_other_questions_alone(question: str) -> None:
    assert solve_arithmetic_question(question) is None


def test_critic_fails_wrong_answer_to_arithmetic_question_without_given_reference() -> None:
    critic = MathCritic(CritiqueSettings(self_consistency_k=0, use_judge=False))
    answer = ("First, we add 25 and 17: 25 + 17 = 32. Then, we subtract 32 from 25, which gives us 26.\n"
              "So, the answer is 26.")
    result = critic.critique("What is 25 + 17?", answer)
    assert result.has_reference and result.passed is False and result.score <= 2
    assert "computed from the question: 42" in result.explanation
    right = critic.critique("What is 25 + 17?", "25 + 17 = 42. The answer is 42.")
    assert right.passed is True and right.score >= 9
