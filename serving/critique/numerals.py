"""How a number is written, in the patterns every checker reads them with (one place, so they cannot drift)."""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

import sympy

NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
"""A plain numeral: "12", "1.50" (no sign, no thousands separator)."""
QUANTITY_RE = re.compile(r"(\d+(?:\.\d+)?)(\s*%)?")
"""A numeral and, in group 2, the percent sign that makes it a share ("25%" is 0.25)."""
CLOCK_RE = re.compile(r"\b\d{1,2}:\d{2}\b")
"""A clock time, "9:30": two numbers that are no quantities."""
CARDINALS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
             "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20}
"""Numbers written as English words ("three boxes")."""


def format_value(value: sympy.Rational) -> str:
    """Integers as integers, other values as a short decimal or fraction, as the checkers write them back.

    >>> format_value(sympy.Integer(85)), format_value(sympy.Rational(3, 4)), format_value(sympy.Rational(10, 3))
    ('85', '0.75', '10/3')
    """
    if value.is_integer:
        return str(int(value))
    decimal = float(value)
    if sympy.Rational(repr(round(decimal, 6))) == value:
        return repr(round(decimal, 6))
    return f"{value.p}/{value.q}"


_VULGAR = "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"
_VULGAR_RE = re.compile(rf"(?:(\d+)[ \t]*)?([{_VULGAR}])")


def vulgar_fractions_as_text(text: str) -> str:
    """One-glyph fractions as arithmetic: "3⅓" is ``(3+1/3)``, "¾" is ``(3/4)`` (``unicodedata`` knows each glyph).

    >>> vulgar_fractions_as_text("40 ÷ 12 = 3⅓ batches, and ¾ cup")
    '40 ÷ 12 = (3+1/3) batches, and (3/4) cup'
    """
    def write(match: re.Match[str]) -> str:
        part = Fraction(unicodedata.numeric(match.group(2))).limit_denominator(16)
        fraction = f"{part.numerator}/{part.denominator}"
        return f"({match.group(1)}+{fraction})" if match.group(1) else f"({fraction})"

    return _VULGAR_RE.sub(write, text)
