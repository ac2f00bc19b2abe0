"""Chat questions that compute themselves (arithmetic, one linear equation) get a computed reference, also inside
students' chatter, and the critic then catches wrong final answers."""

from __future__ import annotations

import pytest

from serving.critique.critic import MathCritic
from serving.critique.question_solver import solve_question
from mathchat.settings import CritiqueSettings


@pytest.mark.parametrize(("question", "value"), [
    ("What is 25 + 17?", "42"), ("37+48=?", "85"), ("Compute (12 - 4) * 3", "24"), ("what's 100 ÷ 8?", "25/2"),
    ("计算 6 × 7", "42"), ("Evaluate 2 - 5.", "-3"), ("What is 0.5 + 0.25?", "3/4"),
    # chatter around the expression, as students type it (bench/students.py's openings, typos and closings)
    ("Homework question: What is 2 + 3?", "5"), ("What is 39 - 6? Please explain.", "33"),
    ("hey, waht is 8 - 8?", "0"), ("I don't get this one. What is 5 + 3?", "8"), ("What is 6 + 7? thx", "13"),
    ("qiuck question: what is 1/6 + 4/6? Give the answer as a frcation in lwoest terms.", "5/6"),
    ("What is 3 + 4, please?", "7"),
    # percent of
    ("Homework question: What is 10% of 200?", "20"), ("I don't get this one. What is 50% of 150?", "75"),
    ("what is 12.5 percent of 80?", "10"),
    # a fraction of a number (the seed pool's fractions questions; it was judged without a reference before)
    ("What is 1/4 of 60?", "15"), ("Homework question: what is 2/3 of 9? Please explain.", "6"),
    ("What is 3 / 8 of 20?", "15/2"),
])
def test_solves_plain_arithmetic(question: str, value: str) -> None:
    assert solve_question(question) == value


@pytest.mark.parametrize(("question", "value"), [
    ("Solve x + 3 = 5", "2"), ("I don't get this one. Solve for x: 9x = 180", "20"),
    ("Can you help me with this? Solve for x: 2x = 32", "16"), ("hey, solve for x: x + 1 = 10", "9"),
    ("Solve for y: 2(y - 1) = y/2 + 4. Please explain.", "4"), ("Solve for x: 3x = 57", "19"),
    ("solve: 7 × x = 35", "5"), ("Solve for x: x + 1 = 4 Please explain.", "3"), ("Solve for x: 3x = 57.", "19"),
])
def test_solves_one_linear_equation(question: str, value: str) -> None:
    assert solve_question(question) == value


@pytest.mark.parametrize("question", [
    "What is 25 + 17 apples and 3 pears?", "What is 1/0?", "Why is 2 + 2 = 4?", "",
    "A train goes 60 km in 2 hours. What is its speed?",
    # another number or an instruction outside the expression could change the answer
    "What is 10 / 4? Round to the nearest whole number.", "What is 17 / 5? Give the remainder.",
    "What is 3 + 4 in binary?", "Tom has 3 bags. What is 2 + 5?", "What is 6 × 7? Write it in words.",
    "Tom buys 6 bags with 2 books in each bag, then gives away 2. How many books now?",
    # more than a short lead before the expression
    "My teacher said that yesterday we learned 2 + 3?",
    # equations the solver does not take
    "Solve for x: x * x = 4", "Solve for x: x + y = 4", "Solve for y: x + 1 = 4", "Solve for x: x + 1 = x + 2",
    "Solve for x: 2x = 10. Then find x + 3 = ?", "Solve 3 + 4 = 7",
])
def test_leaves_other_questions_alone(question: str) -> None:
    assert solve_question(question) is None


def test_critic_fails_wrong_answer_to_arithmetic_question_without_given_reference() -> None:
    critic = MathCritic(CritiqueSettings(self_consistency_k=0, use_judge=False))
    answer = ("First, we add 25 and 17: 25 + 17 = 32. Then, we subtract 32 from 25, which gives us 26.\n"
              "So, the answer is 26.")
    result = critic.critique("What is 25 + 17?", answer)
    assert result.has_reference and result.passed is False and result.score <= 2
    assert "computed from the question: 42" in result.explanation
    right = critic.critique("What is 25 + 17?", "25 + 17 = 42. The answer is 42.")
    assert right.passed is True and right.score >= 9


def test_critic_fails_a_wrong_solution_of_an_equation_in_chatter() -> None:
    """The loop's critic picked "0" for "Solve for x: 9x = 180" with confidence 0.89 before the equation was
    solved (a 3-cycle chain on 2026-12-06): now the question is its own reference."""
    critic = MathCritic(CritiqueSettings(self_consistency_k=0, use_judge=False))
    question = "I don't get this one. Solve for x: 9x = 180"
    wrong = critic.critique(question, "We divide both sides by 9: 9x - 9x = 0. So x = 0.\n\nThe answer is 0.")
    assert wrong.has_reference and wrong.passed is False
    right = critic.critique(question, "Divide both sides by 9: x = 180 / 9 = 20.\n\nThe answer is 20.")
    assert right.has_reference and right.passed is True


@pytest.fixture
def counted_worker(monkeypatch: pytest.MonkeyPatch):
    """run_bounded wrapped to count its calls, with solve_question's cache empty before and after."""
    from serving.critique import question_solver

    calls: list[str] = []
    real = question_solver.run_bounded

    def counting(fn, *args):
        calls.append(fn.__name__)
        return real(fn, *args)

    question_solver._solved.cache_clear()
    monkeypatch.setattr(question_solver, "run_bounded", counting)
    yield calls
    question_solver._solved.cache_clear()


def test_a_question_asked_twice_is_computed_once(counted_worker: list[str]) -> None:
    assert solve_question("Solve for x: 7x = 35") == "5"
    assert solve_question("Solve for x: 7x = 35") == "5"
    assert solve_question("What is 2 + 3?") == "5"
    assert counted_worker == ["linear_solution", "exact_value"]


def test_a_timed_out_question_is_computed_again(counted_worker: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.critique import question_solver
    from serving.critique.bounded import SymbolicTimeout

    def timing_out(fn, *args):
        counted_worker.append(fn.__name__)
        raise SymbolicTimeout("busy")

    monkeypatch.setattr(question_solver, "run_bounded", timing_out)
    assert solve_question("What is 4 + 4?") is None
    monkeypatch.undo()
    monkeypatch.setattr(question_solver, "run_bounded", lambda fn, *args: counted_worker.append(fn.__name__) or "8")
    assert solve_question("What is 4 + 4?") == "8"
    assert counted_worker == ["exact_value", "exact_value"]
