"""A reference for chat questions that are plain arithmetic ("What is 25 + 17?"), computed with sympy.

Chat questions come without a reference, and the default policy cannot judge; but when the question is
itself an arithmetic expression, its exact value is a reference as good as a human's.
"""

from __future__ import annotations

import re

import sympy

_OPS = {"×": "*", "x": "*", "X": "*", "·": "*", "÷": "/", "^": "**", "−": "-", "–": "-"}
_EXPR = re.compile(r"[-(]*\d[\d,.]*(?:\s*(?:[-+*/×÷^·−–]|\s[xX]\s)\s*[(]*-?\d[\d,.]*[)]*)+")
_LEAD = re.compile(
    r"^\s*(?:what\s+is|what's|compute|calculate|evaluate|find|work\s+out|solve|计算|求|算一算|请计算)?\s*[:：]?\s*",
    re.IGNORECASE)
_TRAIL = re.compile(r"^\s*(?:=\s*\??|等于(?:多少|几)?|是多少)?\s*[?？。.!]*\s*$")


def solve_arithmetic_question(question: str) -> str | None:
    """The exact value when the whole question is one arithmetic expression, else None.

    >>> solve_arithmetic_question("What is 25 + 17?")
    '42'
    >>> solve_arithmetic_question("Calculate 3/4 × 8.")
    '6'
    >>> solve_arithmetic_question("计算 1,200 - 35 等于多少？")
    '1165'
    >>> solve_arithmetic_question("What is 7 / 2?")
    '7/2'
    >>> solve_arithmetic_question("Tom has 3 apples and buys 4 more. How many now?") is None
    True
    >>> solve_arithmetic_question("What is 5?") is None
    True
    """
    text = _LEAD.sub("", question.strip(), count=1)
    match = _EXPR.match(text)
    if match is None or not _TRAIL.match(text[match.end():]):
        return None
    expr = match.group(0)
    for sym, op in _OPS.items():
        expr = expr.replace(sym, op)
    expr = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expr)
    if not re.fullmatch(r"[\d\s.+\-*/()]+", expr) or "**" in expr and len(expr) > 40:
        return None
    try:
        value = sympy.nsimplify(sympy.sympify(expr, rational=True, evaluate=True))
    except (sympy.SympifyError, TypeError, ZeroDivisionError, SyntaxError):
        return None
    if not value.is_number or value.has(sympy.zoo, sympy.nan):
        return None
    return str(value)
