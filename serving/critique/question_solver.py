"""A reference for chat questions that are plain arithmetic ("What is 25 + 17?"), computed with sympy.

Chat questions come without a reference, and the default policy cannot judge; but when the question is
itself an arithmetic expression, its exact value is a reference as good as a human's. The value is computed
within the bounds of ``serving.critique.bounded`` (digits, powers, result size), in a worker process that is
stopped when it overruns: "What is 9^9^9?" has no computed reference.
"""

from __future__ import annotations

import logging
import re

from serving.critique.bounded import (SymbolicFailure, SymbolicTimeout, evaluate_arithmetic, mask_huge_numbers,
                                      run_bounded)

log = logging.getLogger(__name__)

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
    text = _LEAD.sub("", mask_huge_numbers(question.strip()), count=1)
    match = _EXPR.match(text)
    if match is None or not _TRAIL.match(text[match.end():]):
        return None
    expr = match.group(0)
    for sym, op in _OPS.items():
        expr = expr.replace(sym, op)
    expr = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expr)
    if not re.fullmatch(r"[\d\s.+\-*/()]+", expr):
        return None
    try:
        return run_bounded(exact_value, expr)
    except (SymbolicTimeout, SymbolicFailure) as exc:
        log.warning("question value not computed: %s", exc)
        return None


def exact_value(expr: str) -> str | None:
    """The exact value of a plain arithmetic expression, or None when it is too big, undefined or not arithmetic
    (the bounds of ``serving.critique.bounded``).

    >>> exact_value("3/4 * 8"), exact_value("2**10"), exact_value("9**9**9"), exact_value("1/0")
    ('6', '1024', None, None)
    """
    try:
        return str(evaluate_arithmetic(expr))
    except (ValueError, ZeroDivisionError, SyntaxError, TypeError):
        return None
