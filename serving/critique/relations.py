"""Does the work use the question's quantities the way the question relates them? Checks that need no reference.

A capable writer's wrong answer usually computes cleanly and answers a slightly different question. Some of the
ways it does so leave a trace in which numbers its steps combine, and in what order:

- **a given quantity left out**: the question gives 4 twice ("4 cups at home", "4-cup bags") or gives a value a
  step also happens to compute ("a $15 add-on", "150 x $0.10 = $15"), and the steps use it one time too few;
- **"N more than twice X" read as twice (X + N)**: the step adds N to X, and a later step doubles that sum;
- **a share of the whole where the question asks a share of what is left** ("half of the remaining", "tax on the
  sale price", "of the students who have a pet"): two shares taken of the same given number;
- **a percentage of the price after the change**: "$240 after a 20% discount", and the work takes 20% of $240.

Each is a reason to doubt, not a proof: the calibration weighs them with the rest. The functions here read plain
data (the question, and the steps as ``Step``), so the step checker owns the parsing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from serving.critique.numerals import CARDINALS, CLOCK_RE

_FRACTION_RE = re.compile(r"\d+\s*/\s*\d+")
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_REFERS = frozenset({"the", "all", "those", "these", "over", "above", "beyond", "under", "below", "first", "last",
                     "remaining", "his", "her", "their", "its", "other", "each", "every"})
"""A word before a number that points back at a quantity already given ("the 32 rooms", "each text over 200")."""
_COUNT_WORDS = {"twice": (2,), "double": (2,), "triple": (3,), "thrice": (3,), "half": (2, Fraction(1, 2)),
                **{word: (value,) for word, value in CARDINALS.items() if 2 <= value <= 10}}
"""Words that give a number a step must use (a "half" as /2 or x 0.5); "one" gives nothing to check."""


@dataclass(frozen=True)
class Step:
    """One shown computation: the side that computes (as written), its numbers in order, and its result."""

    left: str
    operands: tuple[Fraction, ...]
    result: Fraction | None


def _statements(question: str) -> str:
    """The question without the sentence that asks (it restates: "How long to paint all 32 rooms?")."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", question.strip()) if p]
    kept = [p for p in parts if "?" not in p]
    return " ".join(kept) if kept else question


def given_copies(question: str) -> Counter[tuple[str, tuple[Fraction, ...]]]:
    """How many times the question gives each quantity, as ``(written, the values a step may use it as)``.

    A number pointed back at ("the 32 rooms", "over 200") is no new quantity; fractions ("2/3") and clock times
    are left to other checks.

    >>> sorted((w, n) for (w, _), n in given_copies("3 notebooks, 2 pens and $2 off. He pays the 2 pens.").items())
    [('2', 2), ('3', 1)]
    >>> [w for (w, _) in given_copies("A round trip costs twice as much, children pay half.")]
    ['twice', 'half']
    """
    text = _FRACTION_RE.sub(" ", CLOCK_RE.sub(" ", _statements(question))).replace(",", "")  # "1,000"; and every
    # offset below is into this same text (they were into the text with its commas, so each comma shifted them)
    copies: Counter[tuple[str, tuple[Fraction, ...]]] = Counter()
    for match in re.finditer(r"(\d+(?:\.\d+)?)(\s*%)?|\b([A-Za-z]+)\b", text):
        before = re.findall(r"[A-Za-z]+", text[max(0, match.start() - 20):match.start()])
        if before and before[-1].lower() in _REFERS:
            continue
        if match.group(1):
            value = Fraction(match.group(1))
            if value in (0, 1):
                continue
            if match.group(2):  # 25% as 0.25, or as the factor of a change (0.75, 1.25)
                value /= 100
                copies[(f"{match.group(1)}%", (value, 1 - value, 1 + value, value * 100))] += 1
            else:
                copies[(match.group(1), (value,))] += 1
        elif (word := match.group(3).lower()) in _COUNT_WORDS:
            after = text[match.end():match.end() + 12].lower()
            if after.startswith("-") or text[match.start() - 1:match.start()] == "-" \
                    or word == "half" and re.match(r"\s+(?:an?|and)\b", after):  # two-thirds, twenty-three, half an hour
                continue
            copies[(word, tuple(Fraction(v) for v in _COUNT_WORDS[word]))] += 1
    return copies


def short_copies(question: str, steps: Sequence[Step], also_used: Sequence[Fraction] = ()) -> list[str]:
    """The given quantities the steps use fewer times than the question gives them, where the lenient check
    ("is this number written anywhere in the work?") can be fooled: the quantity is given more than once, or a
    step computes the same value. An operand that equals an earlier result not yet used is that result.
    ``also_used`` holds numbers used outside the steps (algebra lines, unit conversions).

    >>> q = "Maria buys 3 notebooks for $4 each and 2 pens for $1.50 each. She has $2 off. She pays with $20."
    >>> s = lambda *o, r: Step("", tuple(map(Fraction, o)), Fraction(r))
    >>> short_copies(q, [s(3, 4, r=12), s(2, "1.5", r=3), s(12, 3, r=15), s(20, 15, r=5)])
    ['2 (given 2 times, used 1)']
    >>> short_copies(q, [s(3, 4, r=12), s(2, "1.5", r=3), s(12, 3, r=15), s(15, 2, r=13), s(20, 13, r=7)])
    []
    """
    copies = given_copies(question)
    pending: Counter[Fraction] = Counter()
    uses: Counter[Fraction] = Counter(also_used)
    derived: set[Fraction] = set()
    for step in steps:
        for value in step.operands:
            if pending[value] > 0:
                pending[value] -= 1
            else:
                uses[value] += 1
        if step.result is not None:
            pending[step.result] += 1
            derived.add(step.result)
    groups: dict[Fraction, tuple[list[str], set[Fraction], int]] = {}  # "2", "twice" and "half" are one number
    for (written, forms), count in copies.items():
        names, values, total = groups.get(forms[0], ([], set(), 0))
        groups[forms[0]] = (names + [written], values | set(forms), total + count)
    short = []
    for names, forms, count in groups.values():
        if count < 2 and not derived & forms:
            continue  # the lenient check already sees this one
        used = sum(uses[f] for f in forms)
        if used < count:
            written = "/".join(names)
            short.append(f"{written} (given {count} times, used {used})" if count > 1 else written)
    return short


_MULTIPLIERS = {"twice": Fraction(2), "double": Fraction(2), "triple": Fraction(3), "thrice": Fraction(3),
                "half": Fraction(1, 2), "two times": Fraction(2), "three times": Fraction(3),
                "four times": Fraction(4), "five times": Fraction(5)}
_MORE_THAN_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s+(?:[a-z$]+\s+){0,2}?(?:more|fewer|less|older|younger|taller|shorter|longer|heavier|"
    r"lighter|cheaper)\s+than\s+(twice|double|triple|thrice|half|(?:two|three|four|five|\d+)\s+times)\b",
    re.IGNORECASE)


def _factor(word: str) -> Fraction:
    word = word.lower()
    if word in _MULTIPLIERS:
        return _MULTIPLIERS[word]
    return Fraction(word.split()[0])


def _scales(step: Step, value: Fraction, factor: Fraction) -> bool:
    """The step multiplies ``value`` by ``factor`` (or divides by its inverse)."""
    ops = list(step.operands)
    if value not in ops:
        return False
    others = [o for o in ops if o != value] or ops[1:]
    if factor in others and "*" in step.left:
        return True
    if factor.numerator == 1 and Fraction(factor.denominator) in others and "/" in step.left:
        return True  # 240 / 3 for a third
    return {Fraction(factor.numerator), Fraction(factor.denominator)} <= set(others) and "/" in step.left \
        and "*" in step.left  # (2/3) * 36


def order_reversed(question: str, steps: Sequence[Step]) -> str | None:
    """"N more than twice X" worked as twice (X + N): a step adds or takes N, and a later step scales that result
    by the multiplier. Returns the phrase, or None.

    >>> q = "Tom is 4 years older than twice his sister's age. His sister is 9."
    >>> s = lambda left, *o, r: Step(left, tuple(map(Fraction, o)), Fraction(r))
    >>> order_reversed(q, [s("9 + 4", 9, 4, r=13), s("2 * 13", 2, 13, r=26)])
    '4 years older than twice'
    >>> order_reversed(q, [s("2 * 9", 2, 9, r=18), s("18 + 4", 18, 4, r=22)]) is None
    True
    """
    for match in _MORE_THAN_RE.finditer(question):
        n, factor = Fraction(match.group(1)), _factor(match.group(2))
        for i, step in enumerate(steps):
            if step.result is None or len(step.operands) != 2 or n not in step.operands \
                    or not re.search(r"[-+]", step.left):
                continue
            if any(_scales(later, step.result, factor) for later in steps[i + 1:]):
                return match.group(0)
    return None


_WHAT_IS_LEFT_RE = re.compile(
    r"\bof\s+the\s+(?:remaining|rest|remainder|others|leftover)\b|\bof\s+(?:these|those|them\s+who)\b"
    r"|\bof\s+the\s+[a-z]+\s+(?:who|that|which)\b|\bon\s+the\s+(?:sale|discounted|reduced|new)\s+price\b"
    r"|\bof\s+what\s+(?:is|was)\s+left\b|\bhalf\s+of\s+the\s+remaining\b", re.IGNORECASE)


def _share_factors(question: str) -> set[Fraction]:
    """The shares a question names, as the factor a step multiplies by (and the divisor for a 1/n share)."""
    text = question.lower()
    shares = {Fraction(p) / 100 for p in _PERCENT_RE.findall(text)}
    shares |= {Fraction(int(a), int(b)) for a, b in re.findall(r"(\d+)\s*/\s*(\d+)", text) if int(b)}
    words = {"half": Fraction(1, 2), "third": Fraction(1, 3), "quarter": Fraction(1, 4), "fourth": Fraction(1, 4),
             "fifth": Fraction(1, 5), "sixth": Fraction(1, 6), "tenth": Fraction(1, 10)}
    counts = {**CARDINALS, "a": 1}
    for count, word in re.findall(r"\b(?:(one|two|three|four|a)[\s-]+)?(half|third|quarter|fourth|fifth|sixth|tenth)s?\b",
                                  text):
        shares.add(words[word] * counts.get(count, 1))
    return {s for s in shares if 0 < s < 1}


def share_of_whole(question: str, steps: Sequence[Step], given: set[Fraction]) -> Fraction | None:
    """The question takes a share of what is left ("half of the remaining", "tax on the sale price"), and two
    steps take shares of one and the same given number (``given``): the second share was taken of the whole.
    Returns that number, or None.

    >>> q = "A bakery bakes 240 cookies. It sells 1/3 of them and half of the remaining ones. How many are left?"
    >>> s = lambda left, *o, r: Step(left, tuple(map(Fraction, o)), Fraction(r))
    >>> share_of_whole(q, [s("240/3", 240, 3, r=80), s("240/2", 240, 2, r=120)], {Fraction(240)})
    Fraction(240, 1)
    >>> share_of_whole(q, [s("240/3", 240, 3, r=80), s("160/2", 160, 2, r=80)], {Fraction(240)}) is None
    True
    """
    if _WHAT_IS_LEFT_RE.search(question) is None:
        return None
    shares = _share_factors(question)
    if len(shares) < 2:
        return None
    bases: Counter[Fraction] = Counter()
    for step in steps:
        for base in {o for o in step.operands if o in given}:
            if any(_scales(step, base, share) for share in shares):
                bases[base] += 1
    twice = [b for b, n in bases.items() if n >= 2]
    return twice[0] if twice else None


_AFTER_CHANGE_RE = re.compile(
    r"\$?\s*(\d+(?:\.\d+)?)\s+(?:[a-z]+\s+){0,4}?(?:after|with)\s+(?:a|an|the)\s+(\d+(?:\.\d+)?)\s*%\s*"
    r"(?:discount|off|increase|raise|markup|mark-up|tax|tip|reduction)", re.IGNORECASE)


def percent_of_changed(question: str, steps: Sequence[Step]) -> str | None:
    """The question gives a price after a percentage change ("bought for $240 after a 20% discount"), and a step
    takes that percentage of it (20% of $240): the percentage is of the price before the change. Returns the
    phrase, or None.

    >>> q = "Ali bought a bike for $240 after a 20% discount. How much did he save?"
    >>> s = lambda left, *o, r: Step(left, tuple(map(Fraction, o)), Fraction(r))
    >>> percent_of_changed(q, [s("0.20 * 240", "0.2", 240, r=48)])
    '$240 after a 20% discount'
    >>> percent_of_changed(q, [s("240 / 0.80", 240, "0.8", r=300)]) is None
    True
    """
    for match in _AFTER_CHANGE_RE.finditer(question):
        price, rate = Fraction(match.group(1)), Fraction(match.group(2)) / 100
        if any(_scales(step, price, rate) for step in steps):
            return match.group(0).strip()
    return None
