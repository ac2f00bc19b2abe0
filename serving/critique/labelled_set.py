"""The project's own labelled critique set: exact questions, step-by-step answers of known kinds, labels.

Pure and seeded. Each row is ``{"id", "question", "reference", "answer", "is_correct", "human_score",
"kind", "language", "source"}`` (plus ``samples`` when simulated policy samples are asked for).
``is_correct`` means the FINAL answer equals the reference. ``human_score`` is the band a careful human
grader would give by the paper's rubric, with the in-band value drawn from the seed:

- ``correct``: all steps right -> 9-10
- ``flawed_right``: one step's written result is wrong but the work goes on with the right value -> 6-8
- ``late_wrong``: the last step is miscalculated (first half right) -> 3-5
- ``early_wrong``: the first step is miscalculated and the error carries through -> 1-2
- ``misread``: every step is internally right but a number or the operation is misread -> 1-2

Real model answers fit the same format (``kind`` and ``source`` are free text, ``human_score`` optional).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from serving.critique.answers import answers_equivalent, extract_answer

PREV = "prev"
KIND_WEIGHTS = {"correct": 0.40, "flawed_right": 0.15, "late_wrong": 0.15, "early_wrong": 0.15, "misread": 0.15}
HUMAN_BANDS = {"correct": (9, 10), "flawed_right": (6, 8), "late_wrong": (3, 5), "early_wrong": (1, 2),
               "misread": (1, 2)}
Operand = int | Fraction | str
Plan = list[tuple[str, Operand, Operand]]


@dataclass(frozen=True)
class Problem:
    """A question in both languages and the chain of operations that solves it."""

    kind: str
    question_en: str
    question_zh: str
    numbers: tuple[int, ...]
    """The numbers written in the question (what a misread can change)."""
    build_plan: Callable[[tuple[int, ...]], Plan]


def _fmt(value: Fraction | int) -> str:
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "%of":
        return a * b / 100
    raise ValueError(op)


def _render_op(op: str, a: str, b: str, rng: random.Random) -> str:
    if op == "*":
        return f"{a} {rng.choice(['×', '*', 'x'])} {b}"
    if op == "/":
        return f"{a} {rng.choice(['÷', '/'])} {b}"
    if op == "%of":
        return f"{a} × {b}%"
    return f"{a} {op} {b}"


def _problems(rng: random.Random) -> Problem:
    """One random problem of a random type."""
    kind = rng.choice(["add", "sub", "mul", "div", "frac_of", "frac_add", "percent", "discount", "word1",
                       "word2", "change", "equation", "trees"])
    r = rng.randint
    if kind == "add":
        a, b = r(100, 999), r(10, 999)
        return Problem(kind, f"What is {a} + {b}?", f"计算 {a} + {b}。", (a, b), lambda n: [("+", n[0], n[1])])
    if kind == "sub":
        a = r(200, 999)
        b = r(10, a - 50)
        return Problem(kind, f"What is {a} - {b}?", f"计算 {a} - {b}。", (a, b), lambda n: [("-", n[0], n[1])])
    if kind == "mul":
        a, b = r(12, 99), r(3, 29)
        return Problem(kind, f"What is {a} × {b}?", f"计算 {a} × {b}。", (a, b), lambda n: [("*", n[0], n[1])])
    if kind == "div":
        b, q = r(3, 12), r(11, 99)
        return Problem(kind, f"What is {b * q} ÷ {b}?", f"计算 {b * q} ÷ {b}。", (b * q, b),
                       lambda n: [("/", n[0], n[1])])
    if kind == "frac_of":
        d = rng.choice([3, 4, 5, 6, 8])
        k = r(3, 15)
        num = r(1, d - 1)
        return Problem(kind, f"What is {num}/{d} of {d * k}?", f"{d * k} 的 {num}/{d} 是多少？", (num, d, d * k),
                       lambda n: [("/", n[2], n[1]), ("*", PREV, n[0])])
    if kind == "frac_add":
        d = rng.choice([5, 7, 9, 11])
        a, b = r(1, d - 2), 0
        b = r(1, d - 1 - a)
        return Problem(kind, f"What is {a}/{d} + {b}/{d}? Give the answer as a fraction.",
                       f"计算 {a}/{d} + {b}/{d}，用分数表示结果。", (a, d, b),
                       lambda n: [("+", Fraction(n[0], n[1]), Fraction(n[2], n[1]))])
    if kind == "percent":
        p, m = rng.choice([10, 20, 25, 30, 40, 50, 75]), 20 * r(2, 30)
        return Problem(kind, f"What is {p}% of {m}?", f"{m} 的 {p}% 是多少？", (p, m),
                       lambda n: [("%of", n[1], n[0])])
    if kind == "discount":
        p, m = rng.choice([10, 20, 25, 30, 40, 50]), 20 * r(2, 30)
        return Problem(kind, f"A jacket costs {m} dollars and is on sale for {p}% off. What is the sale price in dollars?",
                       f"一件夹克原价 {m} 元，现在打折优惠 {p}%。现价是多少元？", (m, p),
                       lambda n: [("%of", n[0], n[1]), ("-", n[0], PREV)])
    if kind == "word1":
        a, b = r(15, 99), r(12, 99)
        return Problem(kind, f"Tom has {a} apples and buys {b} more. How many apples does he have now?",
                       f"小明有 {a} 个苹果，又买了 {b} 个。他现在一共有多少个苹果？", (a, b),
                       lambda n: [("+", n[0], n[1])])
    if kind == "word2":
        a, b = r(6, 24), r(3, 9)
        c = r(5, a * b - 5)
        return Problem(kind, f"A box holds {a} pencils. Sam buys {b} boxes and gives away {c} pencils. How many pencils does Sam have left?",
                       f"一盒有 {a} 支铅笔。小华买了 {b} 盒，送给同学 {c} 支。他还剩多少支铅笔？", (a, b, c),
                       lambda n: [("*", n[0], n[1]), ("-", PREV, n[2])])
    if kind == "change":
        a, b = r(5, 19), r(3, 9)
        c = (a * b // 50 + 1) * 50 + 50
        return Problem(kind, f"Each ticket costs {a} dollars. A class buys {b} tickets and pays with {c} dollars. How much change do they get?",
                       f"每张票 {a} 元。一个班买了 {b} 张票，付了 {c} 元。应找回多少元？", (a, b, c),
                       lambda n: [("*", n[0], n[1]), ("-", n[2], PREV)])
    if kind == "equation":
        a, x, b = r(2, 9), r(2, 15), r(3, 40)
        return Problem(kind, f"Solve for x: {a}x + {b} = {a * x + b}.", f"解方程：{a}x + {b} = {a * x + b}。",
                       (a, b, a * x + b), lambda n: [("-", n[2], n[1]), ("/", PREV, n[0])])
    a, b, c = r(4, 15), r(6, 20), r(10, 60)
    d = r(5, 40)
    return Problem("trees", f"A farmer has {a} rows of {b} trees. He plants {c} more trees, then {d} trees die. How many trees are there now?",
                   f"农民伯伯种了 {a} 行树，每行 {b} 棵。后来又种了 {c} 棵，然后有 {d} 棵枯死了。现在有多少棵树？",
                   (a, b, c, d), lambda n: [("*", n[0], n[1]), ("+", PREV, n[2]), ("-", PREV, n[3])])


def solve(plan: Plan) -> list[tuple[str, Fraction, Fraction, Fraction]]:
    """Run a plan: each step as (op, a, b, result), PREV replaced by the previous result."""
    steps = []
    prev = Fraction(0)
    for op, a, b in plan:
        x = prev if a == PREV else Fraction(a)
        y = prev if b == PREV else Fraction(b)
        prev = _apply(op, x, y)
        steps.append((op, x, y, prev))
    return steps


def _wrong_value(correct: Fraction, rng: random.Random) -> Fraction:
    """A plausible slip: off by one/ten, a carry error, or swapped digits."""
    if correct.denominator != 1:
        return Fraction(correct.numerator + rng.choice([-1, 1, 2]), correct.denominator * rng.choice([1, 2]))
    value = int(correct)
    candidates = [value + d for d in (-10, -2, -1, 1, 2, 10, 100 if value > 100 else 20)]
    digits = str(abs(value))
    if len(digits) >= 2 and digits[-1] != digits[-2]:
        candidates.append(int(digits[:-2] + digits[-1] + digits[-2]))
    candidates = [c for c in candidates if c != value and c > 0]
    return Fraction(rng.choice(candidates))


def _misread(problem: Problem, rng: random.Random) -> tuple[Plan, str]:
    """A plan with a question number misread (digits swapped or off by ten) or the operation confused."""
    plan = problem.build_plan(problem.numbers)
    if rng.random() < 0.3:
        op, a, b = plan[0]
        swapped = {"+": "-", "-": "+", "*": "+", "/": "*", "%of": "-"}[op]
        if not (swapped == "-" and a != PREV and b != PREV and Fraction(a) <= Fraction(b)):
            return [(swapped, a, b), *plan[1:]], "misread (wrong operation)"
    numbers = list(problem.numbers)
    i = rng.randrange(len(numbers))
    digits = str(numbers[i])
    swapped_digits = int(digits[::-1]) if len(digits) >= 2 and digits[0] != digits[-1] and digits[-1] != "0" else None
    numbers[i] = swapped_digits or numbers[i] + 10
    return problem.build_plan(tuple(numbers)), "misread (number)"


def _final_sentence(value: str, language: str, rng: random.Random, unit_hint: bool) -> str:
    if language == "zh":
        return rng.choice([f"答案是 {value}。", f"答：{value}", f"所以答案为 {value}。"])
    options = [f"The answer is {value}.", f"So the final answer is $\\boxed{{{value}}}$.", f"#### {value}",
               f"Final answer: {value}"]
    if unit_hint:
        options.append(f"The answer is ${value}.")
    return rng.choice(options)


_STEP_WORDS = {"en": ["First, ", "Then ", "Next, ", "Finally, "], "zh": ["首先，", "然后，", "接着，", "最后，"]}


def render_answer(steps: list[tuple[str, Fraction, Fraction, Fraction]], final: Fraction, language: str,
                  rng: random.Random, *, written: dict[int, Fraction] | None = None, unit_hint: bool = False) -> str:
    """Step-by-step answer text; ``written`` overrides the result WRITTEN at some steps (a typo-like slip)."""
    lines = []
    words = _STEP_WORDS[language]
    for i, (op, a, b, result) in enumerate(steps):
        shown = (written or {}).get(i, result)
        expression = _render_op(op, _fmt(a), _fmt(b), rng)
        prefix = words[min(i, len(words) - 1)] if len(steps) > 1 else ""
        end = "。" if language == "zh" else "."
        lines.append(f"{prefix}{expression} = {_fmt(shown)}{end}")
    lines.append(_final_sentence(_fmt(final), language, rng, unit_hint))
    return "\n".join(lines)


def make_item(rng: random.Random, index: int) -> dict[str, Any]:
    """One labelled row."""
    kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    problem = _problems(rng)
    while kind == "late_wrong" and len(problem.build_plan(problem.numbers)) < 2:
        problem = _problems(rng)  # a late slip needs at least two steps
    language = "zh" if rng.random() < 0.3 else "en"
    truth = solve(problem.build_plan(problem.numbers))
    reference = truth[-1][3]
    unit_hint = problem.kind in ("discount", "change")
    detail = kind
    if kind == "correct":
        answer = render_answer(truth, reference, language, rng, unit_hint=unit_hint)
    elif kind == "flawed_right":
        i = rng.randrange(len(truth))
        answer = render_answer(truth, reference, language, rng, written={i: _wrong_value(truth[i][3], rng)},
                               unit_hint=unit_hint)
    elif kind in ("early_wrong", "late_wrong"):
        i = 0 if kind == "early_wrong" else len(truth) - 1
        plan = problem.build_plan(problem.numbers)
        steps = solve(plan)
        slipped = _wrong_value(steps[i][3], rng)
        steps[i] = (*steps[i][:3], slipped)
        prev = slipped
        for j in range(i + 1, len(steps)):  # the error carries through the later steps
            op, a, b = plan[j]
            x = prev if a == PREV else Fraction(a)
            y = prev if b == PREV else Fraction(b)
            prev = _apply(op, x, y)
            steps[j] = (op, x, y, prev)
        answer = render_answer(steps, steps[-1][3], language, rng, unit_hint=unit_hint)
    else:
        plan, detail = _misread(problem, rng)
        steps = solve(plan)
        answer = render_answer(steps, steps[-1][3], language, rng, unit_hint=unit_hint)
    is_correct = answers_equivalent(extract_answer(answer), _fmt(reference))
    low, high = HUMAN_BANDS[kind] if (kind != "misread" or not is_correct) else HUMAN_BANDS["correct"]
    return {"id": f"gen-{index:05d}", "question": problem.question_zh if language == "zh" else problem.question_en,
            "reference": _fmt(reference), "answer": answer, "is_correct": is_correct,
            "human_score": rng.randint(low, high), "kind": kind, "detail": detail,
            "problem_type": problem.kind, "language": language, "source": "generated"}


def simulated_samples(row: dict[str, Any], k: int, policy_accuracy: tuple[float, float],
                      rng: random.Random) -> list[str]:
    """k stand-in policy answers for self-consistency: each right with a per-question accuracy drawn from
    ``policy_accuracy`` (low, high), else a slip of the reference. Only for exercising the consistency
    part offline: real policies make correlated errors, so results that use these are labelled simulated."""
    samples = []
    reference = Fraction(row["reference"])
    accuracy = rng.uniform(*policy_accuracy)
    for _ in range(k):
        value = reference if rng.random() < accuracy else _wrong_value(reference, rng)
        samples.append(f"The answer is {_fmt(value)}.")
    return samples


def make_labelled_set(n: int = 400, seed: int = 0, *, samples_k: int = 0,
                      policy_accuracy: tuple[float, float] = (0.05, 0.9)) -> list[dict[str, Any]]:
    """n labelled rows, reproducible from the seed.

    >>> rows = make_labelled_set(20, seed=1)
    >>> len(rows), rows == make_labelled_set(20, seed=1), {r["is_correct"] for r in rows}
    (20, True, {False, True})
    """
    rng = random.Random(seed)
    rows = [make_item(rng, i) for i in range(n)]
    if samples_k:
        sample_rng = random.Random(seed + 1)
        for row in rows:
            row["samples"] = simulated_samples(row, samples_k, policy_accuracy, sample_rng)
    return rows

