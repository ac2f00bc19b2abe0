"""An answer's Python code block read as the arithmetic it computes.

Some models answer a word problem with a few lines of code ("program of thought")::

    overtime_hours = 47 - 40          # 7
    overtime_pay = rate * 1.5 * overtime_hours   # 189.0

The step checker reads numbers and operators, not names, so such an answer held no step at all and went
unscored. Here each assignment becomes the equation it computes, with every name replaced by its value
("47 - 40 = 7", "18 * 1.5 * 7 = 189.0"). A comment's number is what the answer states for that line (so a
comment that disagrees with the code is a wrong step, as a wrong result written in prose would be); a line
without one states the value the code computes. A name's value is the code's, as Python would run it. Lines
the bounded evaluator cannot compute (calls other than ``ceil`` and ``floor``, strings, loops) define nothing,
and lines that use them are left out.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import sympy

from serving.critique.bounded import SymbolicFailure, evaluate_arithmetic
from serving.critique.numerals import format_value

_FENCE_RE = re.compile(r"```[A-Za-z]*[ \t]*\n(.*?)```", re.DOTALL)
_ASSIGNMENT_RE = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*([^#\n=]+?)[ \t]*(?:#[ \t]*(.*))?$")
_NAME_RE = re.compile(r"\b[A-Za-z_]\w*\b")
_NUMBER_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
"""A number literal in code (not the digits of a name such as ``bag2``)."""
_ARITHMETIC_ONLY_RE = re.compile(r"[\d.+\-*/() ]+")
_COMPUTES_RE = re.compile(r"\d\s*[-+*/]")
"""An expression that computes (an operator after a number), not a given ("rate = 18")."""
_FLOOR_DIVISION_RE = re.compile(r"\s*([\d.]+)\s*//\s*([\d.]+)\s*")
_STATED_RE = re.compile(r"^[$]?(-?\d+(?:\.\d+)?)(?![\d:%-])(?!\s*(?:[A-Za-z]+\s+)?(?:per|each|a|an)\b)")
"""A comment that starts with the line's value ("# 189.0", "# 315 eggs in a week"); "# 9:15 AM to 1:45 PM", "# 8%
tax", "# 30-minute rest" and "# $42 per bag" start with a given or a label instead."""
_RESULT_AFTER_RE = re.compile(r"(?:=|\bis\b|→)\s*[$]?(-?\d+(?:\.\d+)?)(?![\d:])(?!.*(?:=|\bis\b|→))")
"""The result a comment gives after its last "=", "is" or "→" ("# 8% tax = 5.44", "# rest is 0.5 hours")."""


def _stated(comment: str, literals: Collection[str] = ()) -> str | None:
    """The value a comment states for its line, as written; None when it states none. A leading number that is
    one of the line's own literals names a given ("yearly = price * 12  # 12 months in a year"), not the value.

    >>> [_stated(c) for c in ("189.0", "8% tax = 5.44", "3 pounds a day for 30 days = 90 pounds", "$42 per bag",
    ...                       "30-minute rest is 0.5 hours", "315 eggs in a week", "20% tip", "add the parts")]
    ['189.0', '5.44', '90', None, '0.5', '315', None, None]
    >>> _stated("12 months in a year", ["12"]), _stated("12 * 46 = 552", ["12"])
    (None, '552')
    """
    comment = comment.strip()
    after = _RESULT_AFTER_RE.search(comment)
    if after is not None:
        return after.group(1)
    stated = _STATED_RE.match(comment)
    return stated.group(1) if stated and stated.group(1) not in literals else None


_ROUNDING_CALLS = {"ceil", "floor"}
_CALL_RE = re.compile(r"\s*(ceil|floor)\((.+)\)\s*")
_NEGATED_FLOOR_RE = re.compile(r"\s*-\s*\(\s*-\s*([\d.]+)\s*//\s*([\d.]+)\s*\)\s*")


def _whole_part(expr: str) -> tuple[sympy.Integer, str, sympy.Rational] | None:
    """A whole-count expression (``a // b``, ``-(-a // b)``, ``ceil(...)``, ``floor(...)``) as its value, the
    arithmetic it rounds and that arithmetic's exact value; None for any other expression.

    >>> _whole_part("315 // 12"), _whole_part("-(-2250 // 450)"), _whole_part("ceil(210 / 30)"), _whole_part("3 + 4")
    ((26, '315 / 12', 105/4), (5, '2250 / 450', 5), (7, '210 / 30', 7), None)
    """
    if (m := _FLOOR_DIVISION_RE.fullmatch(expr)) is not None:
        inner, round_up = f"{m.group(1)} / {m.group(2)}", False
    elif (m := _NEGATED_FLOOR_RE.fullmatch(expr)) is not None:
        inner, round_up = f"{m.group(1)} / {m.group(2)}", True
    elif (m := _CALL_RE.fullmatch(expr)) is not None and _ARITHMETIC_ONLY_RE.fullmatch(m.group(2)):
        inner, round_up = m.group(2).strip(), m.group(1) == "ceil"
    else:
        return None
    exact = _exact(inner)
    if exact is None:
        return None
    return (sympy.ceiling(exact) if round_up else sympy.floor(exact)), inner, exact


def _literal(value: sympy.Rational) -> str:
    """A value as an operand the checker reads: ``format_value``, a fraction in brackets."""
    text = format_value(value)
    return f"({text})" if "/" in text else text


def _exact(expr: str) -> sympy.Rational | None:
    """The exact value of plain arithmetic within the bounded evaluator's limits, else None."""
    try:
        return evaluate_arithmetic(expr)
    except (SymbolicFailure, SyntaxError, ValueError, ZeroDivisionError, TypeError):
        return None


def code_as_arithmetic(code: str) -> list[str]:
    """The equations one block of code computes, in order.

    >>> code_as_arithmetic("rate = 18\\nhours = 47 - 40   # 7\\npay = rate * 1.5 * hours  # 189.0\\nprint(pay)")
    ['47 - 40 = 7', '18 * 1.5 * 7 = 189.0']
    >>> code_as_arithmetic("n = 10 / 4   # 3\\nm = len(x)\\nk = m + 1\\nd = 315 // 12\\ncost = d * 3.5  # 91.0")
    ['10 / 4 = 3', '315 / 12 = 26.25', '26 * 3.5 = 91.0']
    >>> code_as_arithmetic("price = 46\\nyearly = price * 12   # 12 months in a year")
    ['46 * 12 = 552']
    >>> code_as_arithmetic("minutes = (13*60 + 45) - (9*60 + 15)   # 9:15 AM to 1:45 PM")
    ['(13*60 + 45) - (9*60 + 15) = 270']
    >>> code_as_arithmetic("pages = 30 * 75\\ncartridges = -(-pages // 451)\\ncost = cartridges * 27")
    ['30 * 75 = 2250', '2250 / 451 = (2250/451)', '5 * 27 = 135']
    """
    values: dict[str, sympy.Rational] = {}
    lines = []
    for raw in code.splitlines():
        match = _ASSIGNMENT_RE.match(raw)
        if not match:
            continue
        name, expr, comment = match.group(1), match.group(2).strip().replace("math.", ""), match.group(3) or ""
        if not set(_NAME_RE.findall(expr)) - _ROUNDING_CALLS <= values.keys():
            values.pop(name, None)  # a value we cannot know: lines that use it are left out
            continue
        substituted = _NAME_RE.sub(lambda m: m.group(0) if m.group(0) in _ROUNDING_CALLS else _literal(values[m.group(0)]),
                                   expr)
        whole = _whole_part(substituted)
        if whole is not None:  # "eggs // 12", "ceil(pages / 450)": the name holds the whole count, and the step
            values[name], inner, exact = whole  # shown is the exact arithmetic it rounds ("2250 / 450 = 5")
            if _COMPUTES_RE.search(inner):
                lines.append(f"{inner} = {_literal(exact)}")
            continue
        value = _exact(substituted) if _ARITHMETIC_ONLY_RE.fullmatch(substituted) else None
        if value is None:
            values.pop(name, None)
            continue
        values[name] = value
        if _COMPUTES_RE.search(substituted):  # a computation, not a given ("rate = 18")
            lines.append(f"{substituted} = {_stated(comment, _NUMBER_RE.findall(expr)) or _literal(value)}")
    return lines


def with_code_read(text: str) -> str:
    """``text`` with each fenced code block replaced by the equations it computes, one per line."""
    if "```" not in text:
        return text
    return _FENCE_RE.sub(lambda m: "\n" + "\n".join(code_as_arithmetic(m.group(1))) + "\n", text)
