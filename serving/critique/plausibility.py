"""Does the answer fit what its question asks? Checks that need no reference and no model.

A capable writer's wrong answer rarely shows a wrong sum; it answers a slightly different question. Three traces
of that are visible without solving the problem:

- **the unit asked for is never reached**: the question gives metres and asks for kilometres, and the work
  neither names kilometres nor uses the factor between the two (1000): the answer is in the wrong unit;
- **a count that is not whole**: "How many students ..." answered 12.5;
- **a difference asked, none taken**: "How many more stickers does Sam have than Lee?" answered with Sam's count,
  and no step subtracts anything.

(A fourth, a step that rounds an inexact intermediate value, "24 / 9 = 2.67", is found by the step checker, which
knows which steps round.) Each is a reason to doubt, not a proof: the calibration weighs them with the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from serving.critique.numerals import NUMBER_RE
from serving.critique.units import MEASURE, UNIT_SYNONYMS, canonical_unit, conversion_factors, same_dimension

_ASKED_RE = re.compile(
    rf"\bhow\s+(?:many|much)\s+(?:more\s+|fewer\s+|less\s+|total\s+|whole\s+|full\s+)?({MEASURE})(?![A-Za-z])"
    rf"|\b(?:in|into)\s+(?:total\s+)?({MEASURE})\s*(?:[?.!]|$)", re.IGNORECASE)
""""how many kilometers", "how much more liters", "... in hours?"."""
_GIVEN_RE = re.compile(rf"\d(?:[\d,]*\d)?(?:\.\d+)?\s*-?\s*({MEASURE})(?![A-Za-z])", re.IGNORECASE)
"""A number with its unit: "25 m", "750 mL", "35 minutes", "a 3-hour trip"."""
_COUNT_RE = re.compile(r"\bhow\s+many\s+(?:more\s+|fewer\s+|full\s+|whole\s+|complete\s+)?([a-z]+)", re.IGNORECASE)
_NOT_COUNTS = frozenset({"times", "percent", "percentage", "points", "more", "fewer", "of", "in", "are", "is", "do",
                         "does", "did", "will", "would", "can", "could", "should", "were", "was", "have", "has"})
"""Words after "how many" that do not name whole things ("how many times", "how many points" can be halves)."""


def asking_sentence(question: str) -> str:
    """The sentence that asks (the last one with a question mark, else the last sentence)."""
    parts = [p for p in re.split(r"(?<=[.?!])\s+", question.strip()) if p]
    asking = [p for p in parts if "?" in p]
    return (asking or parts or [""])[-1]


def asked_unit(question: str) -> tuple[str, str] | None:
    """``(as written, canonical unit)`` of the unit the question asks its answer in, or None.

    >>> asked_unit("A pool is 25 m long. How many kilometers did he swim in all?")
    ('kilometers', 'km')
    >>> asked_unit("How long does the trip take, in hours?"), asked_unit("How many apples are left?")
    (('hours', 'hour'), None)
    """
    match = _ASKED_RE.search(asking_sentence(question))
    if match is None:
        return None
    word = match.group(1) or match.group(2)
    unit = canonical_unit(word)
    return (word, unit) if unit is not None else None


def given_units(question: str) -> set[str]:
    """Canonical units the question writes beside a number.

    >>> sorted(given_units("He walks 35 minutes every morning for 2 weeks, 3 km a day."))
    ['km', 'minute', 'week']
    """
    return {u for word in _GIVEN_RE.findall(question) if (u := canonical_unit(word)) is not None}


def _names_unit(answer: str, unit: str) -> bool:
    """The answer writes ``unit`` under any of its names (a one-letter name only right after a number)."""
    for name in (w for w, u in UNIT_SYNONYMS.items() if u == unit):
        pattern = rf"\d\s*{name}(?![A-Za-z])" if len(name) == 1 else rf"(?<![A-Za-z]){name}(?![A-Za-z])"
        if re.search(pattern, answer, re.IGNORECASE):
            return True
    return False


def unconverted_unit(question: str, answer: str) -> str | None:
    """The unit the question asks for, as it wrote it, when the question gives its quantities only in other units
    of the same kind and the work neither names the asked unit nor uses a factor between them; else None.

    >>> q = "A pool is 25 m long. Ben swims 42 lengths. How many kilometers did he swim?"
    >>> unconverted_unit(q, "42 × 25 = 1050. The answer is 1050.")
    'kilometers'
    >>> unconverted_unit(q, "42 × 25 = 1050 m = 1.05 km."), unconverted_unit(q, "42 × 25 / 1000 = 1.05")
    (None, None)
    """
    asked = asked_unit(question)
    if asked is None:
        return None
    written, unit = asked
    givens = given_units(question)
    others = {g for g in givens if g != unit and same_dimension(g, unit)}
    if unit in givens or not others or _names_unit(answer, unit):
        return None
    factors = set().union(*(conversion_factors(g, unit) for g in others))
    used = {Fraction(n) for n in NUMBER_RE.findall(answer.replace(",", ""))}
    if factors & used or {1 / f for f in factors} & used:
        return None
    return written


def fractional_count(question: str, final: Fraction | None) -> str | None:
    """The thing counted, when the question asks "how many <things>" and the final answer is not whole.

    >>> fractional_count("How many students take the bus?", Fraction(25, 2))
    'students'
    >>> fractional_count("How many hours will it take?", Fraction(5, 2)), fractional_count("How many students?", Fraction(12))
    (None, None)
    """
    if final is None or final.denominator == 1:
        return None
    match = _COUNT_RE.search(asking_sentence(question))
    if match is None:
        return None
    noun = match.group(1)
    if noun.lower() in _NOT_COUNTS or canonical_unit(noun) is not None:
        return None
    return noun


_DIFFERENCE_RE = re.compile(
    r"\bhow\s+(?:many|much)\s+(?:[a-z]+\s+){0,2}?(?:more|fewer|less|longer|shorter|older|younger|taller|heavier|"
    r"farther|further|cheaper|bigger|larger|smaller)\b(?!\s+times)|\bwhat\s+is\s+the\s+difference\b", re.IGNORECASE)
_SUBTRACTION_RE = re.compile(r"[\d)a-zA-Z]\s*[-−–]\s*[\d(a-zA-Z$\\]")


def asks_difference(question: str) -> bool:
    """The question asks for a difference ("how many more ... than", "how much longer", "what is the difference").

    >>> asks_difference("How many more stickers does Sam have than Lee?"), asks_difference("How many more times?")
    (True, False)
    >>> asks_difference("How many stickers does Sam have?")
    False
    """
    return _DIFFERENCE_RE.search(asking_sentence(question)) is not None


def difference_not_taken(question: str, work: Sequence[str]) -> bool:
    """The question asks for a difference and no line of the shown work (equations and algebra, ``work``)
    subtracts: the answer is one of the two amounts, not how far apart they are.

    >>> q = "Sam has 3 times as many stickers as Lee; 56 together. How many more stickers does Sam have than Lee?"
    >>> difference_not_taken(q, ["4L = 56", "3 * 14 = 42"]), difference_not_taken(q, ["42 - 14 = 28"])
    (True, False)
    """
    return asks_difference(question) and bool(work) and not any(_SUBTRACTION_RE.search(line) for line in work)
