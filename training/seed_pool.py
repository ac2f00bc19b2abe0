"""The project's own seed questions: graded arithmetic, fractions, percentages, word problems and equations.

Pure and seeded: the same (n, seed, levels, langs) always gives the same questions. Every question carries
an exact reference answer, so the critic can verify answers symbolically (the 135M default cannot judge).
Level 1 is deliberately tiny (1-digit sums): SmolLM2-135M gets 2-3-digit arithmetic right only ~4% of the
time greedy, and RFT needs questions on which some of its samples pass.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

LEVELS = (1, 2, 3, 4, 5)
LANGS = ("en", "zh")
DEFAULT_LEVEL_WEIGHTS: dict[int, float] = {1: 0.3, 2: 0.3, 3: 0.2, 4: 0.12, 5: 0.08}
"""Easy-heavy: most of the pool is where the default model sometimes succeeds."""


@dataclass(frozen=True)
class SeedQuestion:
    """One generated problem with its exact answer."""

    question: str
    reference: str
    category: str
    subcategory: str
    level: int
    lang: str


Maker = Callable[[random.Random, str], SeedQuestion]

_NAMES_EN = ("Tom", "Anna", "Li Lei", "Maria", "Sam", "Priya", "Ben", "Yuki")
_NAMES_ZH = ("小明", "小红", "小华", "小丽", "小刚", "小芳")
_ITEMS = (("apples", "个", "苹果"), ("pencils", "支", "铅笔"), ("stickers", "张", "贴纸"), ("books", "本", "书"),
          ("marbles", "颗", "弹珠"), ("cookies", "块", "饼干"))


def _q(question: str, answer: int | Fraction | str, category: str, sub: str, level: int, lang: str) -> SeedQuestion:
    ref = str(answer) if not isinstance(answer, Fraction) or answer.denominator != 1 else str(answer.numerator)
    return SeedQuestion(question, ref, category, sub, level, lang)


def _arith(rng: random.Random, lang: str, level: int) -> SeedQuestion:
    """Addition, subtraction, multiplication; operand sizes grow with the level."""
    op = rng.choice("+-×") if level > 1 else rng.choice("+-")
    if op == "×":
        a, b = {2: (rng.randint(2, 5), rng.randint(2, 5)), 3: (rng.randint(2, 9), rng.randint(2, 9)),
                4: (rng.randint(11, 30), rng.randint(2, 9)), 5: (rng.randint(11, 40), rng.randint(11, 20))}[level]
        answer = a * b
    else:
        lo, hi = {1: (1, 9), 2: (10, 40), 3: (10, 99), 4: (100, 999), 5: (100, 999)}[level]
        a, b = rng.randint(lo, hi), rng.randint(1 if level <= 2 else lo, 9 if level == 2 else hi)
        if op == "-" and b > a:
            a, b = b, a
        answer = a + b if op == "+" else a - b
    sub = {"+": "addition", "-": "subtraction", "×": "multiplication"}[op]
    expr = f"{a} {op} {b}"
    text = f"What is {expr}?" if lang == "en" else f"计算：{expr} 等于多少？"
    return _q(text, answer, "arithmetic", sub, level, lang)


def _fraction(rng: random.Random, lang: str, level: int) -> SeedQuestion:
    """Same-denominator sums at low levels, unlike denominators higher up."""
    d = rng.randint(3, 9)
    if level <= 3:
        a, b = rng.randint(1, d - 1), rng.randint(1, d - 1)
        x, y = Fraction(a, d), Fraction(b, d)
        left, right = f"{a}/{d}", f"{b}/{d}"
    else:
        e = rng.choice([k for k in range(2, 9) if k != d])
        a, b = rng.randint(1, d - 1), rng.randint(1, e - 1)
        x, y = Fraction(a, d), Fraction(b, e)
        left, right = f"{a}/{d}", f"{b}/{e}"
    answer = x + y
    text = (f"What is {left} + {right}? Give the answer as a fraction in lowest terms." if lang == "en"
            else f"计算 {left} + {right}，结果写成最简分数。")
    return _q(text, answer, "fractions", "fraction_addition", level, lang)


def _percent(rng: random.Random, lang: str, level: int) -> SeedQuestion:
    """Easy percentages (10/25/50%) of round numbers, harder ones higher up."""
    if level <= 3:
        p = rng.choice([10, 50, 25] if level == 3 else [10, 50])
        base = rng.randint(1, 20) * (20 if p == 25 else 10)
    else:
        p = rng.choice([5, 15, 20, 30, 40, 75])
        base = rng.randint(2, 40) * 20
    answer = Fraction(p * base, 100)
    text = f"What is {p}% of {base}?" if lang == "en" else f"{base} 的 {p}% 是多少？"
    return _q(text, answer, "percentages", "percent_of", level, lang)


def _word(rng: random.Random, lang: str, level: int) -> SeedQuestion:
    """One-step (levels 1-3) and two-step (4-5) stories."""
    item_en, unit, noun = rng.choice(_ITEMS)
    name = rng.choice(_NAMES_EN if lang == "en" else _NAMES_ZH)
    hi = {1: 9, 2: 20, 3: 60, 4: 60, 5: 200}[level]
    a, b = rng.randint(2, hi), rng.randint(1, hi)
    if level <= 3:
        if rng.random() < 0.5:
            answer = a + b
            text = (f"{name} has {a} {item_en} and gets {b} more. How many {item_en} does {name} have now?"
                    if lang == "en" else f"{name}有 {a} {unit}{noun}，又得到 {b} {unit}。{name}现在一共有多少{unit}{noun}？")
            return _q(text, answer, "word_problems", "one_step_add", level, lang)
        a, b = max(a, b), min(a, b)
        answer = a - b
        text = (f"{name} has {a} {item_en} and gives away {b}. How many {item_en} are left?"
                if lang == "en" else f"{name}有 {a} {unit}{noun}，送给别人 {b} {unit}。还剩多少{unit}{noun}？")
        return _q(text, answer, "word_problems", "one_step_sub", level, lang)
    c = rng.randint(2, 6)
    k = rng.randint(1, min(a, 30))
    answer = a * c - k
    text = (f"{name} buys {c} bags with {a} {item_en} in each bag, then gives away {k} of them. "
            f"How many {item_en} are left?" if lang == "en"
            else f"{name}买了 {c} 袋{noun}，每袋有 {a} {unit}，然后用掉了 {k} {unit}。还剩多少{unit}{noun}？")
    return _q(text, answer, "word_problems", "two_step", level, lang)


def _equation(rng: random.Random, lang: str, level: int) -> SeedQuestion:
    """x + a = b at low levels, a·x = b, then a·x + b = c."""
    x = rng.randint(1, 9 if level <= 2 else 20)
    if level <= 2:
        a = rng.randint(1, 9)
        eq, sub = f"x + {a} = {x + a}", "one_step_add"
    elif level == 3:
        a = rng.randint(2, 9)
        eq, sub = f"{a}x = {a * x}", "one_step_mul"
    else:
        a, b = rng.randint(2, 9), rng.randint(1, 30)
        eq, sub = f"{a}x + {b} = {a * x + b}", "two_step"
    text = f"Solve for x: {eq}" if lang == "en" else f"解方程：{eq}，求 x。"
    return _q(text, x, "equations", sub, level, lang)


_MAKERS: dict[str, tuple[Callable[[random.Random, str, int], SeedQuestion], float]] = {
    "arithmetic": (_arith, 0.4),
    "word_problems": (_word, 0.25),
    "equations": (_equation, 0.15),
    "percentages": (_percent, 0.1),
    "fractions": (_fraction, 0.1),
}
CATEGORIES = tuple(_MAKERS)


def generate_seed_questions(
    n: int,
    seed: int,
    *,
    level_weights: dict[int, float] | None = None,
    langs: Sequence[str] = LANGS,
    zh_fraction: float = 0.3,
) -> list[SeedQuestion]:
    """``n`` distinct questions drawn with ``seed`` (question texts are unique).

    >>> qs = generate_seed_questions(5, seed=1)
    >>> len(qs), qs == generate_seed_questions(5, seed=1)
    (5, True)
    """
    rng = random.Random(seed)
    weights = level_weights or DEFAULT_LEVEL_WEIGHTS
    levels, level_w = list(weights), list(weights.values())
    cats, cat_w = list(_MAKERS), [w for _, w in _MAKERS.values()]
    seen: set[str] = set()
    out: list[SeedQuestion] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"could not draw {n} distinct questions with levels {levels}")
        level = rng.choices(levels, level_w)[0]
        lang = ("zh" if rng.random() < zh_fraction else "en") if len(langs) > 1 else langs[0]
        maker = _MAKERS[rng.choices(cats, cat_w)[0]][0]
        q = maker(rng, lang, level)
        if q.question not in seen:
            seen.add(q.question)
            out.append(q)
    return out
