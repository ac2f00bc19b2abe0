"""Checking the arithmetic an answer shows: every explicit ``a op b = c`` is recomputed with sympy.

Pure and model-free, so it holds even when the judge model cannot judge (the 135M default cannot).
Besides the wrong steps it reports whether a wrong value flows into the final answer ("tainted") and
which operands come from nowhere (neither the question, an earlier result, nor a common constant),
the usual trace of a misread question.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from fractions import Fraction

import sympy

from serving.critique.answers import (LONG_ANSWER_CHARS, _as_fraction, extract_answer, normalize_answer,
                                      stated_placeholder, unwrap_latex_text, without_thousands_commas)
from serving.critique.bounded import (SymbolicFailure, SymbolicTimeout, evaluate_arithmetic, mask_huge_numbers,
                                      run_bounded)
from serving.critique.code_steps import with_code_read
from serving.critique.numerals import (CARDINALS, CLOCK_RE, NUMBER_RE, QUANTITY_RE, format_value,
                                      vulgar_fractions_as_text)
from serving.critique.plausibility import difference_not_taken, fractional_count, unconverted_unit
from serving.critique.relations import Step, order_reversed, percent_of_changed, share_of_whole, short_copies
from serving.critique.tables import tables_as_equations
from serving.critique.types import PartScore
from serving.critique.units import MEASURE, UNIT_SYNONYMS, canonical_unit, exact_ratio
from serving.critique.whole_counts import InexactResult, rounded_against_question
from serving.critique.wording import words_as_arithmetic

log = logging.getLogger(__name__)

_SIDE_CHARS = r"[\d.+\-*/()%^ ]"
_EQUATION_RE = re.compile(rf"(?:[\d(\-]|\.\d){_SIDE_CHARS}*(?:(?:=|≈){_SIDE_CHARS}*)+")
_ASSIGNMENT_RE = re.compile(r"(?:^|[\s,;:：，。(])[A-Za-z\u4e00-\u9fff]+\s*=$")  # "total = 2 + 3 = 5"
_JUXTAPOSED_RE = re.compile(r"\d\.?\s+(?=[\d(])")
_WORD_NUMBERS = {
    **CARDINALS, "half": 2, "twice": 2, "double": 2, "triple": 3, "dozen": 12, "quarter": 4,
    "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "半": 2, "倍": 2,
}
COMMON_CONSTANTS = frozenset({0, 1, 2, 3, 4, 10, 12, 24, 60, 100, 1000, 365, 3600})
"""Operands that need no source in the question (halves, percent, dozens, time units)."""
WEEK_CONSTANTS = frozenset({7, 52})
"""Days a week and weeks a year: constants too where the question or the work speaks of weeks."""
WEEKDAY_CONSTANTS = frozenset({5})
"""Weekdays in a week: a constant where the question or the work speaks of weekdays."""
_RESTATES = r"(?:=|≈|\(|\bis\b|\bequals\b|,?[ \t]*or\b|,?[ \t]*which[ \t]+is\b)"
"""What sets one amount equal to the same amount in other units: "=", "is", "(", ", or", ", which is"."""
_CONVERSION_RE = re.compile(rf"(\d+(?:\.\d+)?)\s*({MEASURE})\s*{_RESTATES}\s*(\d+(?:\.\d+)?)\s*({MEASURE})"
                            r"(?![A-Za-z])", re.IGNORECASE)
"""``60 minutes = 1 hour``, ``2 weeks (14 days)``, ``2 hours 30 minutes is 2.5 hours``."""
_TO_COMPOUND_RE = re.compile(rf"(\d+(?:\.\d+)?)\s*({MEASURE})\s*{_RESTATES}\s*(\d+)\s*({MEASURE})"
                             rf"[ \t]*(?:and[ \t]*|,[ \t]*)?(\d+(?:\.\d+)?)\s*({MEASURE})(?![A-Za-z])", re.IGNORECASE)
"""A conversion into a compound: ``3.5 hours, which is 3 hours and 30 minutes``."""
_COMPOUND_BEFORE_RE = re.compile(rf"(\d+(?:\.\d+)?)\s*({MEASURE})[ \t]*(?:and[ \t]*)?\Z", re.IGNORECASE)
"""Text that ends in a number with its unit: the conversion after it converts a compound ("1 hour 15 minutes")."""
_OPERAND_BEFORE_RE = re.compile(r"(?:[-+*/×÷·]|(?<![A-Za-z])(?:x|times|by))[ \t]*\Z", re.IGNORECASE)
"""Text that ends in an operator: the number after it is an operand, not the start of a statement."""
_PARTIAL_LEFT_RE = re.compile(rf"(?:(?<![A-Za-z\d])[A-Za-z][ \t]*[-+*/]|\d[ \t]*(?:{MEASURE}))[ \t]*\Z", re.IGNORECASE)
"""Text before an equation that leaves its first side only the tail of a quantity: a letter's expression
("m + 7 = 31 + 7 = 38") or the first part of a compound ("1 h 45 min = 60 + 45 = 105"); the later sides compute."""
_LABEL_BEFORE_RE = re.compile(r"(?<![A-Za-z])(?:Week|Day|Month|Year|Hour|Step|Round|Stage|Level|Phase|Part|Game|Trip|"
                              r"Room|Box|Bag|Row|Shelf|Floor|Team|Group|Class|Store|Shop|Option|Plan|Case|Scenario)"
                              r"[ \t]+\Z")
"""A capitalised word before a small number that starts an equation: "Week 2 = 10 × 1.2 = 12" names week 2, and
its first side is a label, not a value."""
_IN_PHRASE_BEFORE_RE = re.compile(r"[A-Za-z]+[ \t]+(?:in|for|after|over)[ \t]+\Z", re.IGNORECASE)
"""A phrase that names what an equation computes by a quantity: "Distance in 1.5 hours = 12 × 1.5 = 18" (the 1.5
hours is a label, and the sides after it compute)."""
_MARKDOWN_BOLD_RE = re.compile(r"(?<![\d)])\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*(?![\d(])")
"""``**Total:** 140 + 70 = **210**``: emphasis, not the ``**`` of a power ("3**2 + 4**2" is left alone)."""
_ASSIGNED_RE = re.compile(r"(?<![A-Za-z\d])[A-Za-z]\s*=\s*(\d+(?:\.\d+)?)(?!\d|\.\d|\s*[-+*/(^]|[A-Za-z])")
_OPERATOR_WORDS = (("times", "*"), ("multiplied by", "*"), ("plus", "+"), ("minus", "-"), ("divided by", "/"),
                   ("x", "*"))
_STOP_WORDS = r"(?:of|and|or|is|are|was|were|so|then|to|from|by|than|for|at|in|on|this|that|which|we|it)\b"
_UNIT = rf"(?!{_STOP_WORDS})[A-Za-z]+[²³]?"
"""A unit or noun written between a number and an operator ("12 apples x 3", "3 boxes × 12")."""
_N = r"(\d+(?:\.\d+)?)"
_CONNECTOR = (r"\s*[.,;:]?\s*(?:(?:this|that|which|it)\s+(?:is|gives(?:\s+us)?|makes|equals)|(?:we|you)\s+get"
              r"|to\s+get|gives(?:\s+us)?|giving(?:\s+us)?|makes|equals|is|=)\s+")
_GAP = r"\s+(?:[A-Za-z']+\s+){0,4}"
_VERBAL_STEPS = (  # "adding 10 to the original total of 3. This is 12." -> "3 + 10 = 12."
    (re.compile(rf"\badd(?:ing|ed)?\s+{_N}\s+to{_GAP}{_N}(?:\s+{_UNIT})?{_CONNECTOR}{_N}", re.I), "{1} + {0} = {2}"),
    (re.compile(rf"\bsubtract(?:ing|ed)?\s+{_N}\s+from{_GAP}{_N}(?:\s+{_UNIT})?{_CONNECTOR}{_N}", re.I),
     "{1} - {0} = {2}"),
    (re.compile(rf"\bmultiply(?:ing)?{_GAP}{_N}\s+by\s+{_N}{_CONNECTOR}{_N}", re.I), "{0} * {1} = {2}"),
    (re.compile(rf"\bdivid(?:e|ing){_GAP}{_N}\s+by\s+{_N}{_CONNECTOR}{_N}", re.I), "{0} / {1} = {2}"),
    # a rectangle's sides: "3 feet by 3 feet, which is 9 square feet" -> "3 * 3 = 9"
    (re.compile(rf"(?<![\d.]){_N}\s*(?:{MEASURE})\s+by\s+{_N}(?:\s*(?:{MEASURE}))?{_CONNECTOR}{_N}", re.I),
     "{0} * {1} = {2}"),
)
_ARITHMETIC = r"(?:\d+(?:\.\d+)?%?|\))(?:\s*[-+*/]\s*\(*\d+(?:\.\d+)?%?\)*)+"
_VERBAL_EQUALS_RE = re.compile(rf"({_ARITHMETIC})\s+(?:is|equals|makes|gives|are)\s+(?=-?\(?\d)"
                               rf"|((?=[^,\n]{{0,60}}?[-+*])(?:{_ARITHMETIC}))\s*,?\s+(?:which|that)\s+(?:is|equals|makes|gives)\s+(?=-?\(?\d)",
                               re.I)
"""``10 * 3 is 30``; ``8% * 60, which is 4.80`` (a bare fraction is a quantity: "both 2/3 and 2/3, which is 6"
names a denominator)."""
_DANGLING_RE = re.compile(r"(?:(?<![A-Za-z])(?:x|X|times|plus|minus|by|of|over)|[×÷])\Z")
"""An operator word just before an equation: what precedes it is an operand we could not read."""
_GLUED_UNIT_RE = re.compile(r"(?:cents?|dollars?|yuan|euros?|kg|km|cm|mm|ml|mg|hours?|hrs?|min|minutes?|secs?|"
                            r"seconds?|days?|weeks?|years?)(?![A-Za-z\d(^])", re.IGNORECASE)
"""Units written glued to a result ("= 30cents"); any other word glued to a number is algebra ("= 6at")."""


@dataclass(frozen=True)
class Equation:
    """One explicit equation found in an answer, split at its ``=`` signs."""

    text: str
    sides: tuple[str, ...]
    values: tuple[sympy.Rational | None, ...]
    index: int
    approximate: bool = False
    remainder: sympy.Rational | None = None
    """What a whole quotient leaves ("30 / 12 = 2 full bags" leaves 6): a result the work may go on with."""


@dataclass(frozen=True)
class WrongStep:
    """An equation whose sides disagree."""

    text: str
    left: str
    stated: str
    expected: str
    index: int
    early: bool

    def describe(self) -> str:
        """One line for the explanation, e.g. ``37 + 48 = 104 is wrong: 37 + 48 = 85``."""
        return f"`{self.text}` is wrong: {self.left} = {self.expected}, not {self.stated}"


@dataclass(frozen=True)
class StepCheck:
    """Everything the step checker found in one answer."""

    equations: list[Equation]
    wrong: list[WrongStep]
    final_tainted: bool
    """The final answer carries a value computed from a wrong step."""
    ungrounded: list[str] = field(default_factory=list)
    """Operands found neither in the question, in earlier results nor among common constants."""
    ungrounded_steps: list[str] = field(default_factory=list)
    """The equations that use such an operand."""
    unused: list[str] = field(default_factory=list)
    """Numbers the question gives that no shown step uses and the answer never writes (the work solved some other
    problem), and quantities the steps use fewer times than the question gives them ("2 (given 3 times, used 2)",
    ``relations.short_copies``)."""
    final_supported: bool = False
    """The final answer is a value some shown step computes (stated or true), or there is no numeric final
    to judge; an unsupported final comes from nowhere."""
    rounded: list[str] = field(default_factory=list)
    """Steps before the last that round an inexact value ("24 / 9 = 2.67", "56 * 1/3 ≈ 18.67"): a word problem
    whose numbers are meant to go together divides evenly, so a rounded intermediate is the usual trace of a
    wrong operation (dividing the wrong way, a share of the wrong whole)."""
    final_value: Fraction | None = None
    """The final answer's exact value, when it is a number."""
    relations: list[Step] = field(default_factory=list)
    """The equations as ``relations.Step`` (``relation_steps``), for the checks of how they combine the givens."""
    untrue_conversions: list[str] = field(default_factory=list)
    """Unit conversions the work writes that are not true (``wrong_conversions``)."""

    @property
    def first_wrong_early(self) -> bool:
        return bool(self.wrong) and self.wrong[0].early


def _replace_frac(text: str) -> str:
    """``\\frac{a}{b}`` -> ``((a)/(b))``, innermost first; ``\\tfrac16`` -> ``((1)/(6))``."""
    text = re.sub(r"\\[dt]?frac\s*(\d)\s*(\d)", r"((\1)/(\2))", text)  # "\tfrac16": one digit each, no braces
    pattern = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
    for _ in range(10):
        new = pattern.sub(r"((\1)/(\2))", text)
        if new == text:
            break
        text = new
    return text


def _split_conversion(match: re.Match[str]) -> str:
    """``1050 m = 1.05 km`` -> two statements (a unit conversion, not arithmetic); the same unit twice stays, and
    so does a step whose first number is an operand ("6 hours/day × 5 days = 30 hours" computes)."""
    if _OPERAND_BEFORE_RE.search(match.string, max(0, match.start() - 12), match.start()):
        return match.group(0)
    first, second = (UNIT_SYNONYMS[match.group(i).lower()] if match.group(i).lower() in UNIT_SYNONYMS
                     else match.group(i) for i in (2, 4))
    if first == second:
        return match.group(0)
    return f"{match.group(1)} {match.group(2)};\n{match.group(3)} {match.group(4)}"


@dataclass(frozen=True)
class Conversions:
    """The unit conversions an answer writes: plain ones ("60 minutes = 1 hour", "2 hours 30 minutes is 2.5
    hours") and ones into a compound ("3.5 hours, which is 3 hours and 30 minutes")."""

    plain: list[re.Match[str]]
    into_compound: list[re.Match[str]]


def _conversions(answer: str) -> Conversions:
    """Every unit conversion an answer writes: a number with one unit set equal to a number with another."""
    text = _replace_frac(answer).replace("−", "-")
    text = without_thousands_commas(text)
    return Conversions([m for m in _CONVERSION_RE.finditer(text) if _split_conversion(m) != m.group(0)],
                       list(_TO_COMPOUND_RE.finditer(text)))


def conversion_values(conversions: Conversions) -> set[sympy.Rational]:
    """Every number of every unit conversion an answer writes ("60 minutes = 1 hour", "3000 mL = 3 L"):
    results the work may go on with, though no arithmetic computes them.

    A compound's parts count too ("2 hours 30 minutes is 2.5 hours" uses the 2; "3.5 hours is 3 hours and 30
    minutes" states the 30).

    >>> sorted(conversion_values(_conversions("4 * 750 = 3000 mL = 3 L, and 60 minutes = 1 hour; 5 apples = 5 apples")))
    [1, 3, 60, 3000]
    >>> sorted(conversion_values(_conversions("2 hours 30 minutes is 2.5 hours; 3.5 h, which is 3 h and 30 min")))
    [2, 5/2, 3, 7/2, 30]
    """
    values = {sympy.Rational(m.group(i)) for m in conversions.plain for i in (1, 3)}
    compounds = (_COMPOUND_BEFORE_RE.search(m.string[:m.start()]) for m in conversions.plain)
    values |= {sympy.Rational(c.group(1)) for c in compounds if c}
    return values | {sympy.Rational(m.group(i)) for m in conversions.into_compound for i in (1, 3, 5)}


def wrong_conversions(answer: str) -> list[str]:
    """The unit conversions an answer writes that are not true ("75 minutes = 0.75 hours", "16 inches = 1.6
    feet": the decimal point taken for the unit's size), as written. A converted value rounded or cut to the
    places it is written with is true; calendar units ("a month is 4 weeks") are never checked. A compound is
    checked as its sum ("2 hours 30 minutes is 2.3 hours", "3.8 hours is 3 hours and 80 minutes").

    >>> wrong_conversions("75 minutes = 0.75 hours, 100 minutes = 1.67 hours, 2 weeks (14 days), 1 month = 4 weeks")
    ['75 minutes = 0.75 hours']
    >>> wrong_conversions("16 inches = 1.6 feet, 3 L = 3000 mL, 150 cents = 1.5 dollars, 1 hour 15 minutes = 1.25 hours")
    ['16 inches = 1.6 feet']
    >>> wrong_conversions("3.8 hours is 3 hours and 80 minutes; 2.5 hours, which is 2 hours 30 minutes")
    ['3.8 hours is 3 hours and 80 minutes']
    """
    return _untrue(_conversions(answer))


def _untrue(conversions: Conversions) -> list[str]:
    """``wrong_conversions`` of conversions already found."""
    wrong = []
    for m in conversions.plain:
        compound = _COMPOUND_BEFORE_RE.search(m.string[:m.start()])
        # "1 hour 15 minutes = 1.25 hours": the conversion is of the whole, not of its last part
        parts = [(compound.group(1), compound.group(2))] if compound else []
        if not _converts_to(parts + [(m.group(1), m.group(2))], m.group(3), m.group(4)):
            wrong.append((compound.group(0) if compound else "") + m.group(0))
    for m in conversions.into_compound:
        if canonical_unit(m.group(2)) != canonical_unit(m.group(4)) or canonical_unit(m.group(4)) == \
                canonical_unit(m.group(6)):
            continue  # "2 hours is 120 minutes and 3 hours ...": no compound of one amount
        if not _converts_to([(m.group(3), m.group(4)), (m.group(5), m.group(6))], m.group(1), m.group(2)):
            wrong.append(m.group(0))
    return wrong


def _converts_to(parts: list[tuple[str, str]], number: str, unit: str) -> bool:
    """Whether ``parts`` (numbers with their units, added up) make ``number unit``, to the places it is written
    with; True where no exact ratio joins the units (nothing to check)."""
    target = canonical_unit(unit)
    total = Fraction(0)
    for value, name in parts:
        ratio = exact_ratio(source, target) if (source := canonical_unit(name)) and target else None
        if ratio is None:
            return True
        total += Fraction(value) * ratio
    places = len(number.partition(".")[2])
    return abs(total - Fraction(number)) < Fraction(1, 10 ** places)  # rounded or cut short is still true


def stated_values(answer: str) -> set[sympy.Rational]:
    """Values the work states for a letter ("so 4n = 84 and n = 21"): results of algebra the arithmetic checker
    skips, which later steps may use.

    >>> sorted(stated_values("Let n be Noah's. n + 3n = 84, so n = 21 and x = 2 + 3."))
    [21]
    """
    return {sympy.Rational(v) for v in _ASSIGNED_RE.findall(normalize_math(answer))}


def _rounded(values: set[sympy.Rational]) -> set[sympy.Rational]:
    """Whole numbers next to each fractional value: "62.5, so 62 full cartons" rounds, it does not invent.

    >>> sorted(_rounded({sympy.Rational(125, 2), sympy.Integer(7)}))
    [62, 63]
    """
    return {sympy.Integer(f) for v in values if v.q != 1 for f in (sympy.floor(v), sympy.ceiling(v))}


def normalize_math(text: str) -> str:
    """Plain ASCII arithmetic from LaTeX/Unicode/GSM8K notation, one line per statement.

    >>> normalize_math(r"$\\frac{3}{4}\\times 8 = 6$ and 3 × 4 = 12, 12÷4=3")
    '((3)/(4))* 8 = 6 and 3 * 4 = 12, 12/4=3'
    >>> normalize_math("16-3 = <<16-3=13>>13 and 1,250 + 5 = 1,255")
    '16-3 = ;\\n16-3=13\\n;13 and 1250 + 5 = 1255'
    """
    text = with_code_read(text)  # "pay = rate * hours  # 720" as "18 * 40 = 720"
    text = vulgar_fractions_as_text(text)  # "3⅓" as "(3+1/3)"
    text = tables_as_equations(text)  # "| Wall | 12 × 9 | 108 |" as "12 × 9 = 108"
    text = re.sub(r"<<([^<>]*)>>", r";\n\1\n;", text)
    text = _MARKDOWN_BOLD_RE.sub(r"\1", text)
    text = unwrap_latex_text(text)  # "1 \\text{ L} = 1000 mL"
    text = re.sub(r"(?m)^[ \t]*[-*+•][ \t]+", "", text)  # markdown bullets: "- 30 - 22 = 8" is not -30 - 22
    text = _replace_frac(text)
    text = re.sub(r"(÷|\\div)\s*(\d+)\s*/\s*(\d+)(?![\d.])", r"\1 (\2/\3)", text)  # "10 ÷ 3/4" divides by 3/4
    text = words_as_arithmetic(text)  # "Twenty-five percent of $80", "a third of 84", "$0.25 = 25 cents"
    for old, new in (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("×", "*"), ("·", "*"), ("∗", "*"),
                     ("÷", "/"), ("−", "-"), ("–", "-"), ("＝", "="), ("＋", "+"), ("－", "-"), ("（", "("),
                     ("）", ")"), ("\\left", ""), ("\\right", ""), ("\\approx", "≈"), ("\\%", "%"), ("\\,", ""),
                     ("\\(", " "), ("\\)", " "), ("\\[", " "), ("\\]", " "), ("$", " "), ("{,}", ","), ("{", "("),
                     ("}", ")")):
        text = text.replace(old, new)
    text = without_thousands_commas(text)  # "5,000 mL" before the conversions are read
    for pattern, template in _VERBAL_STEPS:
        text = pattern.sub(lambda m, t=template: "\n" + t.format(*m.groups()), text)
    for word, op in _OPERATOR_WORDS:  # "12 apples x 3", "10 times 3": the unit words stay for the next step
        text = re.sub(rf"(?<=\d)((?:[ \t]+{_UNIT}){{0,2}}?)[ \t]+{word}[ \t]+(?=[\d(])", rf"\1 {op} ", text,
                      flags=re.IGNORECASE)
    text = re.sub(r"(\d+\s*/\s*\d+|\d+(?:\.\d+)?\s*%)\s+of\s+(?=\d)", r"\1 * ", text)  # "3/4 of 52", "25% of 80"
    text = _CONVERSION_RE.sub(_split_conversion, text)  # "60 minutes = 1 hour" converts, it computes nothing
    # unit words between a number and an operator: "48 apples - 19 apples = 29 apples" -> "48 - 19 = 29 apples"
    # (on one line: "5p = 30\np = 6" holds no unit; and "6 L/min" is a rate, not 6 divided by min)
    text = re.sub(rf"(?<=\d)(?:[ \t]+(?:[A-Za-z]+/[A-Za-z]+|{_UNIT}))(?:[ \t]+{_UNIT}(?:/{_UNIT})?)?"
                  rf"(?:[ \t]+per[ \t]+{_UNIT})?"
                  rf"(?=[ \t]*(?:[+*=≈)]|-(?![A-Za-z])|/(?![ \t]*[A-Za-z])))", "",
                  text)  # and rates before an operator: "6 hours/day * 5 days = 30 hours" -> "6 * 5 = 30 hours",
    # "9 minutes per mile = 180" -> "9 = 180"; "12 in/ft" (a rate of letters, "in" too); not a hyphen ("18
    # book-days"); and before a bracket ("(6 * 7 per hour)")
    text = _VERBAL_EQUALS_RE.sub(lambda m: f"{m.group(1) or m.group(2)} = ", text)  # "10 * 3 is 30"
    text = re.sub(r"(?<=\d)\.(?=[ \t])", ".\n", text)  # "= 74. 74 - 66" is two sentences, not a decimal
    return re.sub(r"[ \t]+", " ", text).replace(" \n", "\n").strip()


def evaluate_side(side: str) -> sympy.Rational | None:
    """Exact value of one side of an equation, or None when it is not plain arithmetic.

    >>> evaluate_side("((3)/(4))* 8"), evaluate_side("20% * 50"), evaluate_side("2^10"), evaluate_side("3 4")
    (6, 10, 1024, None)
    """
    expr = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", side.strip()).replace("^", "**")
    if not expr or not re.search(r"\d", expr):
        return None
    try:
        return evaluate_arithmetic(expr)
    except (SyntaxError, ValueError, ZeroDivisionError, TypeError):
        return None


def _decimals(side: str) -> int | None:
    """Decimal places of a side that is a single decimal literal (for rounding tolerance)."""
    match = re.fullmatch(r"\s*-?\d+\.(\d+)\s*", side)
    return len(match.group(1)) if match else None


def _sides_agree(left: str, right: str, a: sympy.Rational, b: sympy.Rational, approximate: bool) -> bool:
    """Equal, or equal up to the rounding a decimal written on either side implies."""
    if a == b:
        return True
    places = [p for p in (_decimals(left), _decimals(right)) if p is not None]
    if places:
        tolerance = sympy.Rational(1, 10 ** min(places))  # allows rounding and truncation
        return abs(a - b) <= tolerance
    if approximate:
        return abs(a - b) <= sympy.Rational(1, 2) or abs(a - b) <= abs(b) * sympy.Rational(1, 100)
    return False


def _trim_sides(sides: list[str]) -> list[str]:
    """Drop list numbering glued before the first side, trailing text after the last one, and the brackets
    of a parenthesised step ("(30 + 10 = 30 cents)")."""
    first = sides[0]
    cuts = list(_JUXTAPOSED_RE.finditer(first))
    if cuts:
        first = first[cuts[-1].end():]
    last = sides[-1].strip().rstrip(".").strip()
    cut = _JUXTAPOSED_RE.search(last)
    if cut:
        last = last[: cut.start() + 1].rstrip(".")
    first, last = first.strip(), last.strip()
    while first.startswith("(") and first.count("(") > first.count(")"):
        first = first[1:].strip()
    while last.endswith(")") and last.count(")") > last.count("("):
        last = last[:-1].strip()
    return [first, *[s.strip() for s in sides[1:-1]], last]


_REMAINDER_RE = re.compile(r"\A\W*\w*\W*(?:full|whole|complete)\b|\bremainder\b|\A\s*r\s*\d|\bwith\s+\d+(?:\.\d+)?\s+"
                           r"(?:[A-Za-z]+\s+)?(?:left|left\s+over|remaining)\b", re.IGNORECASE)
"""Words that make a quotient whole: "= 2 full bags", "= 11 remainder 5", "= 11 R 5", "= 2, with 6 left" (a bare "3
apples left" after "11 / 3 = 3" is no such word)."""


def _whole_quotient(sides: list[str], values: tuple[sympy.Rational | None, ...], after: str) -> bool:
    """A division whose stated result is its whole part, and the words after it say so ("30 / 12 = 2 full bags,
    with 6 left"; "93 / 8 = 11 remainder 5").

    >>> import sympy
    >>> _whole_quotient(["30 / 12", "2"], (sympy.Rational(5, 2), sympy.Integer(2)), " full bags (24), 6 left")
    True
    >>> _whole_quotient(["30 / 12", "2"], (sympy.Rational(5, 2), sympy.Integer(2)), " bags")
    False
    """
    return (len(values) == 2 and None not in values and sides[0].count("/") == 1 and "*" not in sides[0]
            and values[1] == sympy.floor(values[0]) != values[0] and bool(_REMAINDER_RE.search(after)))


def find_equations(answer: str) -> list[Equation]:
    """Every explicit arithmetic equation (plain numbers only; algebra with letters is skipped).

    >>> [e.text for e in find_equations("First 37 + 48 = 104, then 2x + 3 = 7 and f(3) = 9.")]
    ['37 + 48 = 104']
    >>> [e.values for e in find_equations("1. 12 / 4 = 3 = 3.0")]
    [(3, 3, 3)]
    """
    text = normalize_math(answer)
    found: list[Equation] = []
    for match in _EQUATION_RE.finditer(text):
        raw = match.group(0).rstrip(" .(")
        start, end = match.start(), match.start() + len(raw)
        before = text[max(0, start - 80):start]  # only its end matters (a whole prefix made this quadratic)
        if before and (before[-1].isalnum() or before[-1] in "_.:!^'\""):  # "x2", "1:2 = 0.5", "x^2 = 4"
            continue
        stripped = before.rstrip(" ")
        partial = bool(_PARTIAL_LEFT_RE.search(stripped) and re.match(r"\d+(?:\.\d+)?\s*[=≈]", raw)
                       or _LABEL_BEFORE_RE.search(before) and re.match(r"\d{1,3}\s*[=≈]", raw)
                       or _IN_PHRASE_BEFORE_RE.search(before)
                       and re.match(r"\d+(?:\.\d+)?\s*[=≈]\s*[^=≈]*[-+*/]", raw))
        if stripped and stripped[-1] in "+-*/^=(≈<>" and not _ASSIGNMENT_RE.search(stripped) and not partial:
            continue
        if raw.startswith("-") and stripped and stripped[-1].isalnum():
            continue  # "apples - 89 = 10": a minus whose left operand is a word, not a negative number
        dangling = _DANGLING_RE.search(stripped)
        if dangling and not (dangling.group(0) == "by" and re.match(r"[\d.]+\s*[-+*/]", raw)):
            continue  # "half of 36 = 18": only part of the step was read ("cheaper by 720 - 712.5 = 7.5" is all there)
        if end < len(text) and (text[end] == "_" or text[end].isalpha() and not _GLUED_UNIT_RE.match(text, end)):
            continue  # "2 + 3 = 5x" is algebra; "= 30cents" is a unit
        if end < len(text) and text[end] == "(" and (raw[-1].isdigit() or raw[-1] == ")"):
            continue  # "1 = 2(xA - xB)^2": a product with letters; "= 0.5%(daily)" is a remark
        sides = _trim_sides(re.split(r"=|≈", raw))
        if partial:  # "m + 7 = 31 + 7 = 38": the first side is not all there, the rest is a step
            sides = sides[1:] if len(sides) > 2 else []
        if len(sides) < 2 or any(not re.search(r"\d", s) for s in sides):
            continue
        if all(NUMBER_RE.fullmatch(s.strip()) for s in sides) and len(set(sides)) == 1:
            continue  # "5 = 5" carries no computation
        values = tuple(evaluate_side(s) for s in sides)
        if sum(v is not None for v in values) < 2:
            continue
        remainder = None
        if _whole_quotient(sides, values, text[end:end + 60]):  # "30 / 12 = 2 full bags, with 6 left"
            numerator, denominator = (evaluate_side(part) for part in sides[0].split("/"))
            remainder = numerator - denominator * values[1] if numerator is not None and denominator else None
            values = (values[1], values[1])
        found.append(Equation(text=" = ".join(sides), sides=tuple(sides), values=values, index=len(found),
                              approximate="≈" in raw, remainder=remainder))
    return found


def _numbers_in(text: str) -> set[sympy.Rational]:
    """Every number written in a text, as exact values, plus small number words (whole words only:
    "money" holds no "one", "weight" no "eight").

    >>> sorted(_numbers_in("Twice the money: 7 apples"))
    [2, 7]
    """
    values = {sympy.Rational(n) for n in NUMBER_RE.findall(normalize_math(text))}
    lowered = text.lower()
    values |= {sympy.Integer(v) for w, v in _WORD_NUMBERS.items()
               if re.search(rf"(?<![a-z]){w}(?![a-z])" if w.isascii() else re.escape(w), lowered)}
    return values


_ORDINAL_RE = re.compile(r"\b\d+(?:st|nd|rd|th)\b", re.IGNORECASE)
_SHARE_WORDS = {r"half|halves": sympy.Rational(1, 2), r"(?:a|one) third": sympy.Rational(1, 3),
                r"(?:a|one) quarter": sympy.Rational(1, 4), r"twice|double": sympy.Integer(2), r"triple": sympy.Integer(3)}
"""Shares named in words (an ordinal "the third one" is no share)."""


def _named_shares(question: str, values: set[sympy.Rational]) -> set[sympy.Rational]:
    """The shares of given numbers a question names in words ("the third is half price" with "$14": 7), which a
    step may write without computing them, and the share itself ("half a cup": 0.5).

    >>> sorted(_named_shares("Pizzas cost $14; the third one is half price.", {sympy.Integer(14)}))
    [1/2, 7]
    """
    factors = {f for word, f in _SHARE_WORDS.items() if re.search(rf"\b(?:{word})\b", question, re.IGNORECASE)}
    return {v * f for v in values for f in factors if v not in (0, 1, 2)} | {f for f in factors if f < 1}  # "half a cup"


_COINS = {r"quarters?": sympy.Rational(1, 4), r"dimes?": sympy.Rational(1, 10), r"nickels?": sympy.Rational(1, 20),
          r"penn(?:y|ies)": sympy.Rational(1, 100)}
_CENTS_RE = re.compile(r"\bcents?\b|¢", re.IGNORECASE)
_COMPARED_RE = re.compile(r"(?:\b(?:is|are|was|were|be)\s+(?:over|above|under|below|more\s+than|less\s+than|fewer\s+than"
                          r"|greater\s+than|at\s+least|at\s+most)\s|\bexceeds?\s|[≥≤<>]=?|\\[gl]eq?\b|\\[gl]t\b)"
                          r"\s*\\?\$?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
"""A comparison stated with its verb ("82, which is over $75") or its sign ("17 \\ge 15"); "over 2 years" is a
duration, no comparison."""


def _coin_values(question: str) -> set[sympy.Rational]:
    """What the coins a question names are worth, in dollars and in cents (a quarter: 0.25 and 25): a step
    multiplies by them though the question never writes them.

    >>> sorted(_coin_values("A jar holds 36 quarters and 45 dimes."))
    [1/10, 1/4, 10, 25]
    """
    worth = {v for word, v in _COINS.items() if re.search(rf"\b{word}\b", question, re.IGNORECASE)}
    return worth | _as_cents(worth)


def _afternoon_hours(question: str) -> set[sympy.Rational]:
    """The 24-hour hour of each afternoon clock time ("1:45 PM" is hour 13), which a step subtracts with.

    >>> sorted(_afternoon_hours("from 9:15 AM to 1:45 PM, then 12:30 pm"))
    [13]
    """
    return {sympy.Integer(int(h) + 12) for h in re.findall(r"\b(\d{1,2})(?::\d{2})?\s*p\.?m\b", question, re.I)
            if 1 <= int(h) < 12}


def _as_cents(values: set[sympy.Rational]) -> set[sympy.Rational]:
    """Amounts in dollars as cents: where the work speaks of cents, "$0.25" may go on as 25."""
    return {v * 100 for v in values}


def _compared_numbers(answer: str) -> set[sympy.Rational]:
    """Numbers the work compares with ("82, which is over $75, so the coupon applies"): a threshold the
    question gives is used by the comparison, though no arithmetic computes with it.

    >>> sorted(_compared_numbers(r"82 dollars, which is over \\$75; it is at least 3 boxes; over 2 years; 5 more"))
    [3, 75]
    >>> sorted(_compared_numbers(r"$5 + 12 = 17 \\ge 15$ people; 40 > 36; x ≤ 8"))
    [8, 15, 36]
    """
    return {sympy.Rational(x) for x in _COMPARED_RE.findall(answer)}


def _given_numbers(question: str) -> list[tuple[str, sympy.Rational]]:
    """The numerals a question gives, as (how it is written, the value a solution must use): a percentage
    must be used as one (25% as 25% or 0.25; "140 - 40" does not use "40% off"); an ordinal ("the 4th
    period", "her 12th deposit") names a place, no quantity to use.

    >>> _given_numbers("3 for $1.20, 25% off, 1 pen, between the 3rd and 4th periods")
    [('3', 3), ('1.2', 6/5), ('25%', 1/4)]
    """
    found: list[tuple[str, sympy.Rational]] = []
    for match in QUANTITY_RE.finditer(normalize_math(_ORDINAL_RE.sub(" ", CLOCK_RE.sub(" ", question)))):
        value = sympy.Rational(match.group(1))
        given = (f"{format_value(value)}%", value / 100) if match.group(2) else (format_value(value), value)
        if value not in (0, 1) and given not in found:
            found.append(given)
    return found


def _forms(written: str, value: sympy.Rational) -> set[sympy.Rational]:
    """The values a solution may use a given number as: itself, and for a percentage also the factor of an
    increase or a decrease ("60% longer" as 1.6, "25% off" as 0.75).

    >>> sorted(_forms("60%", sympy.Rational(3, 5))), _forms("0.6", sympy.Rational(3, 5))
    ([2/5, 3/5, 8/5], {3/5})
    """
    if written.endswith("%") and 0 < value < 1:
        return {value, 1 + value, 1 - value}
    return {value}


def algebra_lines(answer: str) -> list[str]:
    r"""The lines of algebra an answer writes ("5x/12 = 30", "2(p + 5) + 3p = 40"), which the arithmetic checker skips.

    >>> algebra_lines("Let x be hers.\n5x/12 = 30, so x = 72.\n3 + 4 = 7")
    ['5x/12 = 30, so x = 72.']
    """
    return [line for line in normalize_math(answer).splitlines()
            if "=" in line and re.search(r"\d\s*[A-Za-z]\b|\b[A-Za-z]\s*[-+*/]", line)]


def _used_numbers(equations: list[Equation], answer: str = "",
                  conversions: set[sympy.Rational] | frozenset = frozenset()) -> set[sympy.Rational]:
    """Every number the shown steps write or compute, and every number in a line of algebra the checker skips
    ("(b + 6) + (b + 10) = 40"); a written percentage ("40%", "40 / 100") as its fraction."""
    used = {v for eq in equations for v in eq.values if v is not None}
    for side in [side for eq in equations for side in eq.sides] + algebra_lines(answer):
        used |= {sympy.Rational(x) for x in NUMBER_RE.findall(re.sub(r"(\d)\s*%", r"\1", side))
                 if not re.search(rf"(?<![\d.]){re.escape(x)}\s*(?:%|/\s*100(?!\d))", side)}
        used |= {sympy.Rational(x) / 100 for x in re.findall(r"(\d+(?:\.\d+)?)\s*(?:%|/\s*100(?!\d))", side)}
        used |= {sympy.Rational(x) for x in re.findall(r"(\d+(?:\.\d+)?)\s*/\s*100(?!\d)", side)}  # 450 km / 100
    return used | conversions  # both sides of a unit conversion the work writes (``conversion_values``)


def check_steps(answer: str, question: str | None = None) -> StepCheck:
    """Recompute every equation; name the wrong ones, whether the final answer inherits an error,
    and (given the question) which operands appear from nowhere.

    >>> check = check_steps("37 + 48 = 104. Then 104 - 20 = 84. The answer is 84.")
    >>> [w.describe() for w in check.wrong], check.final_tainted, check.first_wrong_early
    (['`37 + 48 = 104` is wrong: 37 + 48 = 85, not 104'], True, True)
    >>> check_steps("<<16-3=13>>13 eggs; 13 * 2 = 26. #### 26").wrong
    []
    """
    answer = mask_huge_numbers(answer)
    question = mask_huge_numbers(question) if question else question
    equations = find_equations(answer)
    wrong: list[WrongStep] = []
    tainted: set[sympy.Rational] = set()
    known: set[sympy.Rational] = set()
    sound: set[sympy.Rational] = set()  # results of right steps that inherit no error
    sources = _numbers_in(question) | {v for written, value in _given_numbers(question) for v in _forms(written, value)} \
        if question else None
    if sources is not None:
        sources |= _named_shares(question, sources) | _coin_values(question) | _afternoon_hours(question)
    found_conversions = _conversions(answer)
    conversions = conversion_values(found_conversions)
    known |= conversions | stated_values(answer)
    known |= {sympy.Rational(x) for line in algebra_lines(answer) for x in NUMBER_RE.findall(line)}  # "5x/12"
    speaks_cents = bool(_CENTS_RE.search(answer))  # "$0.25 = 25 cents": the same amount, scaled
    known |= _as_cents(known) if speaks_cents else set()
    constants = COMMON_CONSTANTS | (WEEK_CONSTANTS if re.search(r"week", f"{question} {answer}", re.I) else set()) \
        | (WEEKDAY_CONSTANTS if re.search(r"week ?days?", f"{question} {answer}", re.I) else set())
    ungrounded: list[str] = []
    ungrounded_steps: list[str] = []
    rounded: list[str] = []
    n = len(equations)
    for eq in equations:
        operands = {sympy.Rational(x) for x in NUMBER_RE.findall(eq.sides[0])}
        if sources is not None:
            invented = sorted(operands - sources - known - {sympy.Integer(c) for c in constants})
            ungrounded.extend(format_value(v) for v in invented)
            if invented:
                ungrounded_steps.append(eq.text)
        inherits = bool(operands & tainted)
        is_wrong = False
        for i in range(len(eq.sides) - 1):
            a, b = eq.values[i], eq.values[i + 1]
            if a is None or b is None or _sides_agree(eq.sides[i], eq.sides[i + 1], a, b, eq.approximate):
                if a is not None and b is not None and a != b and eq.index < n - 1 and eq.text not in rounded:
                    rounded.append(eq.text)
                continue
            continuation = re.match(r"\s*\(?\s*(\d+(?:\.\d+)?)(?=\s*[-+*/])", eq.sides[i + 1])
            if continuation and sympy.Rational(continuation.group(1)) == a:
                continue  # running total "3*4 = 12 + 5 = 17", "5 × 12 = 60 pencils × $0.40": sloppy, not wrong
            wrong.append(WrongStep(text=eq.text, left=eq.sides[i], stated=eq.sides[i + 1],
                                   expected=format_value(a), index=eq.index, early=eq.index < n / 2))
            is_wrong = True
        results = {v for v in eq.values[1:] if v is not None} | ({eq.remainder} if eq.remainder is not None else set())
        known |= results | ({eq.values[0]} if eq.values[0] is not None else set())  # stated and true values
        known |= _rounded(known) | (_as_cents(known) if speaks_cents else set())
        if inherits:
            tainted |= results
        elif is_wrong:
            tainted |= results - {eq.values[0]}
        else:
            sound |= results
    final = extract_answer(answer, fallback=len(answer) <= LONG_ANSWER_CHARS)
    final_value = _as_fraction(normalize_answer(final)) if final else None
    rounded = [text for text in rounded if not _rounds_to_the_count(equations, text, final_value)]
    final_tainted = final_value is not None and sympy.Rational(final_value) in tainted - sound  # a right step
    # that computes the same value supports the final answer whatever a later slip wrote
    values = {v for eq in equations for v in eq.values if v is not None} | conversions
    values |= _rounded(values)  # "31.25 boxes, so 32 are needed" supports 32
    final_supported = final_value is None or sympy.Rational(final_value) in values  # no evidence without a final
    used = _used_numbers(equations, answer, conversions) | _compared_numbers(answer)
    written = {sympy.Rational(x) for x in NUMBER_RE.findall(without_thousands_commas(answer))} if question else set()
    unused = [text for text, value in _given_numbers(question)
              if not _forms(text, value) & used and (text.endswith("%") or value not in written)] \
        if question and equations else []  # a given the answer writes somewhere is not unused: the reader missed
    # its use (on the other writers' sets 33 right and 41 wrong answers had only such "unused" givens; 10 right
    # and 105 wrong had one the answer never writes). A percentage stays unused unless used as one: "140 - 40"
    # writes the 40 of "40% off" and is the slip itself
    relations = relation_steps(equations)
    if question and equations:  # then the stricter count, where the lenient one can be fooled
        outside = [_fraction(sympy.Rational(x)) for line in algebra_lines(answer) for x in NUMBER_RE.findall(line)]
        unused += [s for s in short_copies(question, relations,
                                           outside + [_fraction(c) for c in conversions])
                   if s.split(" ")[0] not in unused]
    return StepCheck(equations=equations, wrong=wrong, final_tainted=final_tainted, ungrounded=ungrounded,
                     final_supported=final_supported, ungrounded_steps=ungrounded_steps, unused=unused,
                     rounded=rounded, final_value=final_value, relations=relations,
                     untrue_conversions=_untrue(found_conversions))


def _rounds_to_the_count(equations: list[Equation], text: str, final: Fraction | None) -> bool:
    """A rounded step that only sizes a whole count: no later step computes with it, and the final answer is its
    whole part or the next whole number ("100 / 30 = 3.33 ... 3 full days", "706 / 120 = 5.88 ... 6 nights")."""
    index = next(i for i, eq in enumerate(equations) if eq.text == text)
    value = equations[index].values[0]
    if final is None or value is None or final not in (sympy.floor(value), sympy.ceiling(value)):
        return False
    results = {v for v in equations[index].values[1:] if v is not None}
    later = {sympy.Rational(x) for eq in equations[index + 1:] for x in NUMBER_RE.findall(eq.sides[0])}
    return not results & later


def _fraction(value: sympy.Rational) -> Fraction:
    return Fraction(int(value.p), int(value.q))


def relation_steps(equations: list[Equation]) -> list[Step]:
    """The equations as ``relations.Step``: the computing side, its numbers in order (a percentage as its
    fraction), and the result the writer carries on with (the last side's value).

    >>> [(s.operands, s.result) for s in relation_steps(find_equations("20% * 50 = 10"))]
    [((Fraction(1, 5), Fraction(50, 1)), Fraction(10, 1))]
    """
    steps = []
    for eq in equations:
        left = eq.sides[0]
        operands = tuple(Fraction(m.group(1)) / (100 if m.group(2) else 1)
                         for m in QUANTITY_RE.finditer(left))
        result = eq.values[-1] if eq.values[-1] is not None else eq.values[0]
        steps.append(Step(left, operands, None if result is None else _fraction(result)))
    return steps


def steps_part(answer: str, question: str | None = None) -> PartScore:
    """The step checker as a critic part: 1-10 by what it found; None when the answer shows no arithmetic.
    Runs in a symbolic worker process (``serving.critique.bounded``): a check that overruns its time is
    stopped and the part says it was not checked.

    >>> steps_part("37 + 48 = 104. The answer is 104.").score, steps_part("It is 85.").score
    (2.0, None)
    """
    try:
        return run_bounded(check_steps_part, answer, question)
    except (SymbolicTimeout, SymbolicFailure) as exc:
        log.warning("step check stopped: %s", exc)
        return PartScore("steps", None, "the steps were too large to check in time",
                         {"n_equations": 0, "wrong": [], "final_tainted": False, "ungrounded": [],
                          "ungrounded_steps": [], "unused": [], "final_supported": True, "has_final": False,
                          "final_placeholder": None, "misfit": [], "stopped": str(exc)})


def misfit_reasons(check: StepCheck, answer: str, question: str | None) -> list[str]:
    """Why the answer may not fit its question, in plain words (``serving.critique.plausibility``): a rounded
    intermediate step, a unit conversion that is not true, the asked unit never reached, a count that is not whole.

    >>> q = "A box of 24 chocolates costs $9. How many chocolates can 60 dollars buy?"
    >>> misfit_reasons(check_steps("9 / 24 = 0.38. 60 / 0.38 = 157.9. The answer is 157.9.", q), "", q)
    ['a step rounds an inexact value (`9 / 24 = 0.38`)', 'a count of chocolates that is not whole (157.9)']
    """
    reasons = [f"a step rounds an inexact value (`{check.rounded[0]}`)"] if check.rounded else []
    reasons += [f"`{c}` is not a true conversion" for c in check.untrue_conversions[:1]]
    if question:
        unit = unconverted_unit(question, answer)
        if unit is not None:
            reasons.append(f"the question asks for {unit}, and the work never converts to them")
        if difference_not_taken(question, [eq.text for eq in check.equations] + algebra_lines(answer)):
            reasons.append("the question asks for a difference, and no step subtracts")
        noun = fractional_count(question, check.final_value)
        if noun is not None:
            reasons.append(f"a count of {noun} that is not whole ({format_value(sympy.Rational(check.final_value))})")
        reasons += _relation_reasons(question, check)
        left = final_left_behind(check.equations, check.final_value)
        if left is not None:
            reasons.append(f"the final answer ({left[0]}) is an earlier step's result, not the last one the work "
                           f"computes ({left[1]})")
        rounded = rounded_against_question(question, answer, _inexact_results(check.equations, check.final_value))
        if rounded is not None:
            value, count, asked = rounded
            way = "up (every one counts)" if asked == "up" else "down (only whole ones count)"
            reasons.append(f"the question needs the count rounded {way}, and the work takes {count} from "
                           f"{format_value(sympy.Rational(value.numerator, value.denominator))}")
    return reasons


def final_left_behind(equations: list[Equation], final: Fraction | None) -> tuple[str, str] | None:
    """``(final, last result)`` as written, when the final answer restates a result of an earlier step while the
    last step goes on to compute something new that it does not give ("Boys: 18 ... 11 + 6 = 17. **Final
    Answer:** 18"): the work's conclusion was left behind. A last step that uses the final or meets a value found
    before (a check: "18 + 22 = 40 ✓", "12 * 2 = 24, which matches") or rounds to it leaves nothing behind.

    >>> final_left_behind(find_equations("Boys: 40 * 0.45 = 18. Choir: 11 + 6 = 17."), Fraction(18))
    ('18', '17')
    >>> final_left_behind(find_equations("Boys: 40 * 0.45 = 18. Check: 18 + 22 = 40."), Fraction(18)) is None
    True
    """
    if final is None or len(equations) < 2:
        return None
    last = equations[-1]
    last_values = {v for v in last.values if v is not None}
    value = sympy.Rational(final.numerator, final.denominator)
    if not last_values or value in last_values | _rounded(last_values):
        return None
    if value in {sympy.Rational(x) for x in NUMBER_RE.findall(last.sides[0])}:
        return None
    earlier = {v for eq in equations[:-1] for v in eq.values if v is not None}
    if value not in earlier or last_values & earlier:
        return None  # a final from nowhere is the unsupported check's; a last value met before is a check
    return format_value(value), format_value(last.values[-1] if last.values[-1] is not None else last.values[0])


def _inexact_results(equations: list[Equation], final: Fraction | None) -> list[InexactResult]:
    """Every equation whose value is not whole: its last side's number as written, and which of its floor and
    ceiling the work goes on with after it (a later step's operand, or the final answer). One pass over the
    operands, not one per equation: a long answer of inexact steps stays linear."""
    last_use: dict[Fraction, int] = {}
    for i, eq in enumerate(equations):
        for x in NUMBER_RE.findall(eq.sides[0]):
            last_use[Fraction(x)] = i
    out = []
    for i, eq in enumerate(equations):
        value = eq.values[0]
        numbers = NUMBER_RE.findall(eq.sides[-1])
        if value is None or value.q == 1 or value <= 0 or not numbers:
            continue
        wholes = {Fraction(int(sympy.floor(value))), Fraction(int(sympy.ceiling(value)))}
        goes_on = {c for c in wholes if c == final or last_use.get(c, -1) > i}
        out.append(InexactResult(numbers[-1], _fraction(value), frozenset(goes_on)))
    return out


def _relation_reasons(question: str, check: StepCheck) -> list[str]:
    """The ``serving.critique.relations`` checks of how the steps combine the question's quantities."""
    steps = check.relations
    reasons = []
    phrase = order_reversed(question, steps)
    if phrase is not None:
        reasons.append(f'"{phrase}" is worked in the wrong order (the sum or difference is scaled)')
    given = {_fraction(value) for _, value in _given_numbers(question)}
    whole = share_of_whole(question, steps, given)
    if whole is not None:
        reasons.append(f"the question takes a share of what is left, and two steps take shares of "
                       f"{format_value(sympy.Rational(whole.numerator, whole.denominator))}")
    changed = percent_of_changed(question, steps)
    if changed is not None:
        reasons.append(f'"{changed}": the percentage is of the price before the change, not of this one')
    return reasons


def check_steps_part(answer: str, question: str | None = None) -> PartScore:
    """``steps_part`` in this process, unbounded in time (the worker's task)."""
    check = check_steps(answer, question)
    placeholder = stated_placeholder(answer)
    data = {
        "n_equations": len(check.equations),
        "wrong": [{"text": w.text, "expected": w.expected, "stated": w.stated, "index": w.index,
                   "early": w.early, "description": w.describe()} for w in check.wrong],
        "final_tainted": check.final_tainted,
        "first_wrong_early": check.first_wrong_early,
        "ungrounded": check.ungrounded,
        "ungrounded_steps": check.ungrounded_steps,
        "unused": check.unused,
        "final_supported": check.final_supported,
        "has_final": extract_answer(answer) is not None,
        "final_placeholder": placeholder,
        "misfit": misfit_reasons(check, answer, question),
    }
    if not check.equations:
        return PartScore("steps", None, "no explicit arithmetic to check", data)
    if placeholder is not None:
        score = 2.0
    elif check.wrong and check.final_tainted:
        score = 2.0 if check.first_wrong_early else 4.0
    elif check.wrong and check.final_supported:
        score = 7.0
    elif check.ungrounded or check.unused or not check.final_supported or data["misfit"]:
        score = 5.0 if not check.wrong else 4.0
    else:
        score = 10.0
    if check.wrong:
        detail = "; ".join(w.describe() for w in check.wrong)
        if check.final_tainted:
            detail += "; the final answer inherits this error"
    else:
        detail = f"all {len(check.equations)} arithmetic steps check out"
    if check.ungrounded:
        detail += f"; operands not found in the question: {', '.join(check.ungrounded[:5])}"
    if check.unused:
        detail += f"; numbers the question gives but no step uses: {', '.join(check.unused[:5])}"
    if data["misfit"]:
        detail += "; " + "; ".join(data["misfit"])
    if placeholder is not None:
        detail += f"; the final answer {placeholder!r} is not a value"
    elif not check.final_supported and data["has_final"]:
        detail += "; no shown step computes the final answer"
    return PartScore("steps", score, detail, data)
