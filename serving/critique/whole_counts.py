"""Which way a whole count taken from an inexact quotient must go, and which way the work took it.

"135 ÷ 12 = 11.25 boxes" has to become a whole number of boxes, and the question decides which: boxes that are
*needed* cover everything (12, round up), batches she *can make* with what she has are *full* ones (11, round
down). A capable writer who reads the quotient right but rounds it the other way (or to the nearest) gives a
wrong answer whose every step checks out; the direction is visible from the question's words alone:

- up: "needed", "need", "must buy", "have to", "enough", "at least", "how many nights will it take";
- down: "full", "whole", "complete", "can she make", "afford" (not "buys only whole jars": that says whole, not
  which way).

A question with cues both ways in its asking sentence, or one that asks to round or estimate itself, says nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from serving.critique.plausibility import asking_sentence
from serving.critique.units import MEASURE

_UP_RE = re.compile(
    r"\bneed(?:s|ed)?\b|\bmust\b|\bit\s+take\b|\buntil\b|\bha(?:ve|s) to\b|\benough\b|\bat least\b|\brequired?\b|"
    r"\bso that (?:all|every)|"
    r"\b(?:hold|carry|fit|seat|transport|cover)\s+(?:all|every|them|the\s+whole)\b", re.IGNORECASE)
_DOWN_RE = re.compile(
    r"(?<!only )\b(?:full|whole|complete)\s+(?!price|time|amount|trip|day|week|year|tank|load\b)[a-z]+|"
    r"\b(?:can|could)\s+(?:\w+\s+){0,2}?(?:make|fill|buy|afford|bake|build|pack|cut|sew|serve|plant|give|get)\b|"
    r"\bafford\b|\bmaximum\b", re.IGNORECASE)
_ASKS_ROUNDING_RE = re.compile(r"\bround|\bnearest\b|\bestimat|\bapproximat|\babout\b", re.IGNORECASE)
_SAYS_ROUNDED_RE = re.compile(r"\bround(?:s|ed|ing)?\s+(?:it\s+|this\s+|that\s+)?(up|down)\b", re.IGNORECASE)
_STATED_COUNT_RE = re.compile(r"(?<![-+*/×÷=^.\d])(?<![-+*/×÷=^][ $*])(\d+(?:\.\d+)?)(?![ $*]*[-+*/×÷=^\d])")
"""A number stated on its own ("so 29 cartons", "→ about **11** boxes"), not an operand of arithmetic ("× 2 =")."""
_COMPOUND_PART_RE = re.compile(rf"\s*(?:{MEASURE})\s*(?:and\s*)?\d", re.IGNORECASE)
"""After a number: the first part of a compound ("3 hours and 48 minutes" restates 3.8 hours; 3 is no count)."""
_DECIMAL_RE = re.compile(r"(?<![\d.])\d+\.\d+(?!\d)")
"""A decimal as written in the answer ("11.25", not the "1.25" inside it)."""
_AFTER_WINDOW = 120
"""Characters after an inexact value in which the work states the whole count it took from it."""


def rounding_direction(question: str) -> str | None:
    """``"up"`` or ``"down"``: which way the question needs a whole count rounded; None when it does not say.

    The asking sentence decides; only when it has no cue does the rest of the question (one way only).

    >>> rounding_direction("Juice comes in 250 mL cartons. How many cartons are needed?")
    'up'
    >>> rounding_direction("Each batch needs 3/4 cup of sugar. She has 10 cups. How many full batches can she make?")
    'down'
    >>> rounding_direction("He sells eggs only in full dozens. How much money does he make?")
    'down'
    >>> rounding_direction("How many boxes, to the nearest whole box, are needed?") is None
    True
    """
    if _ASKS_ROUNDING_RE.search(question):
        return None
    for text in (asking_sentence(question), question):
        up, down = bool(_UP_RE.search(text)), bool(_DOWN_RE.search(text))
        if up != down:
            return "up" if up else "down"
        if up and down:
            return None
    return None


@dataclass(frozen=True)
class InexactResult:
    """A step's value that is not whole, as the work writes it ("11.25"), and which of its floor and ceiling the
    work goes on with after that step (a later step's operand or the final answer): a count taken from it matters
    only there."""

    written: str
    value: Fraction
    goes_on_with: frozenset[Fraction]


def counts_taken(answer: str, inexact: Iterable[InexactResult]) -> list[tuple[Fraction, int]]:
    """``(inexact value, whole count)`` for each inexact result, written as a decimal, that the work turns into a
    whole count just after writing it and goes on with: "round up" or "round down" in so many words, else the
    last of its floor and ceiling stated there outside arithmetic ("11.25 → about 11 boxes", "26.25 dozen, so he
    sells 27 dozen", "28 cartons would only hold 7000 mL, so 29"; not the 2 of "1.5 hours, and 1.5 × 2 = 3").

    >>> r = InexactResult("11.25", Fraction(45, 4), frozenset({Fraction(11), Fraction(325, 100)}))
    >>> counts_taken("135 ÷ 12 = 11.25 → about 11 boxes. 11 × 3.25 = 35.75", [r])
    [(Fraction(45, 4), 11)]
    >>> counts_taken("135 ÷ 12 = 11.25 → about 11 boxes, but she buys 3", [InexactResult("11.25", Fraction(45, 4),
    ...                                                                                    frozenset({Fraction(3)}))])
    []
    """
    first_end: dict[str, int] = {}  # where each decimal is first written ends: one pass, not one search per result
    for m in _DECIMAL_RE.finditer(answer):
        first_end.setdefault(m.group(0), m.end())
    taken = []
    for result in inexact:
        end = first_end.get(result.written)
        if end is None:
            continue
        after = answer[end: end + _AFTER_WINDOW].split("\n\n")[0]
        floor, ceiling = math.floor(result.value), math.ceil(result.value)
        said = _SAYS_ROUNDED_RE.search(after)
        if said is not None:
            counts = [ceiling if said.group(1).lower() == "up" else floor]
        else:
            text = after.replace(",", "").replace("**", "")  # "→ about **11** boxes" is no product
            stated = (Fraction(m.group(1)) for m in _STATED_COUNT_RE.finditer(text)
                      if not _COMPOUND_PART_RE.match(text, m.end()))
            counts = [int(n) for n in stated if n.denominator == 1 and n in (floor, ceiling)][-1:]
        taken += [(result.value, count) for count in counts if Fraction(count) in result.goes_on_with]
    return taken


def rounded_against_question(question: str, answer: str, inexact: Iterable[InexactResult]
                             ) -> tuple[Fraction, int, str] | None:
    """``(value, count, direction asked)`` for the first count the work rounds the other way from the one the
    question asks, else None.

    >>> q = "Juice comes in 250 mL cartons. Each of 18 children drinks 400 mL. How many cartons are needed?"
    >>> r = lambda final: [InexactResult("28.8", Fraction(144, 5), frozenset({Fraction(final)}))]
    >>> rounded_against_question(q, "7200 / 250 = 28.8, so we need 28 cartons.", r(28))
    (Fraction(144, 5), 28, 'up')
    >>> rounded_against_question(q, "7200 / 250 = 28.8, so we need 29 cartons.", r(29)) is None
    True
    """
    direction = rounding_direction(question)
    if direction is None:
        return None
    for value, count in counts_taken(answer, inexact):
        went = "up" if count == math.ceil(value) else "down"
        if went != direction:
            return value, count, direction
    return None
