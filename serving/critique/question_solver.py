"""A reference for chat questions that compute themselves: arithmetic ("What is 25 + 17?", "What is 10% of
200?") and one linear equation ("Solve for x: 9x = 180"), computed exactly.

Chat questions come without a reference, and the default policy cannot judge; but when the question is
itself an expression or an equation, its exact value is a reference as good as a human's. Students wrap
them in chatter ("Homework question: what is 2 + 3? Please explain.", "hey, waht is 8 - 8?"), so the
expression may sit anywhere, after a short lead of at most three words, as long as nothing else in the
question holds a number or asks for a different form of the answer ("round", "remainder", "in binary", ...):
then the chatter cannot change the value. The value is computed within the bounds of
``serving.critique.bounded`` (digits, powers, result size), in a worker process that is stopped when it
overruns: "What is 9^9^9?" has no computed reference.
"""

from __future__ import annotations

import functools
import logging
import re

from serving.critique.bounded import (SymbolicFailure, SymbolicTimeout, evaluate_arithmetic, mask_huge_numbers,
                                      run_bounded, solve_linear_equation)

log = logging.getLogger(__name__)

_SYMBOL_OPS = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-"}
"""Operator symbols as Python writes them, in expressions and equations alike."""
_OPS = {**_SYMBOL_OPS, "x": "*", "X": "*", "^": "**"}
_EXPR = re.compile(r"[-(]*\d[\d,.]*(?:\s*(?:[-+*/×÷^·−–]|\s[xX]\s)\s*[(]*-?\d[\d,.]*[)]*)+")
_PERCENT_OF = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(?:%|percent)\s+of\s+(\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_FRACTION_OF = re.compile(r"(\d+)\s*/\s*(\d+)\s+of\s+(\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
""""1/4 of 60": a fraction of a number, which is their product."""
_SENTENCE_END = re.compile(r"[.?!,:;。？！：，；]")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
MAX_LEAD_WORDS = 3
"""Words allowed before the expression in its sentence: "what is", "waht is", "calculate", "计算"."""
_TRAIL = re.compile(r"\s*(?:=\s*\??|等于(?:多少|几)?|是多少)?\s*(?:[?？。.!！,，;；]|$)")
_EQUATION_TOKEN = r"(?:[\d \t+\-*/×÷·().−–]|(?<![a-zA-Z])[a-zA-Z](?![a-zA-Z]))"
"""Numbers, operators and one-letter names: an equation ends at the first word ("... = 4 Please explain.")."""
_EQUATION = re.compile(
    rf"\bsolve\b(?:\s+for\s+(?P<var>[a-z])\b)?\s*[:：,]?\s*(?P<eq>{_EQUATION_TOKEN}+={_EQUATION_TOKEN}+)",
    re.IGNORECASE)
_CHANGES_ANSWER = re.compile(
    r"round|nearest|approx|estimat|remainder|binary|hex|octal|\bbase\b|decimal|significant|digit|percent|%|"
    r"scientific|notation|modul|\bmod\b|floor|ceil|integer|whole|word|roman|convert|unit|\bnot\b|≈",
    re.IGNORECASE)
"""Words outside the expression that may ask for another form of its value: then nothing is computed."""


def _rest_is_chatter(rest: str) -> bool:
    """Nothing outside the expression holds a number or asks for a different form of the answer."""
    return not re.search(r"\d", rest) and not _CHANGES_ANSWER.search(rest)


def _arithmetic_expression(text: str) -> str | None:
    """The question's one arithmetic expression in Python syntax, when the rest is chatter; else None."""
    text = _PERCENT_OF.sub(lambda m: f"({m[1]}/100)*{m[2]}", text)
    text = _FRACTION_OF.sub(lambda m: f"({m[1]}/{m[2]})*{m[3]}", text)
    matches = list(_EXPR.finditer(text))
    if len(matches) != 1:
        return None
    match = matches[0]
    expr = match.group(0).rstrip(",.")
    before, after = text[:match.start()], text[match.start() + len(expr):]
    lead = _SENTENCE_END.split(before)[-1]
    trail = _TRAIL.match(after)
    words = lead.split()
    if len(words) > MAX_LEAD_WORDS or not all(_WORD.fullmatch(w) for w in words) or trail is None \
            or not _rest_is_chatter(before + after):
        return None
    for sym, op in _OPS.items():
        expr = expr.replace(sym, op)
    expr = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expr)
    return expr if re.fullmatch(r"[\d\s.+\-*/()]+", expr) else None


def _linear_equation(text: str) -> tuple[str, str, str] | None:
    """``(left, right, variable)`` in Python syntax for "solve [for x]: <one linear equation>", when the rest
    is chatter and the equation has one variable, a single letter; else None."""
    match = _EQUATION.search(text)
    if match is None or not _rest_is_chatter(text[:match.start()] + text[match.end():]):
        return None
    equation = match["eq"].strip().rstrip(".")
    names = set(re.findall(r"[a-zA-Z]", equation))  # one-letter names only (_EQUATION_TOKEN)
    if len(names) != 1 or (match["var"] and {match["var"]} != names):
        return None
    var = names.pop()
    for sym, op in _SYMBOL_OPS.items():
        equation = equation.replace(sym, op)
    equation = re.sub(r"(\d|\))\s*(?=[a-zA-Z(])", r"\1*", equation)  # 9x -> 9*x, 2(x + 1) -> 2*(x + 1)
    equation = re.sub(rf"\b{var}\s*(?=[(\d])", f"{var}*", equation)
    left, right = equation.split("=")
    return left.strip(), right.strip(), var


def solve_question(question: str) -> str | None:
    """The exact value when the question is one arithmetic expression or one linear equation wrapped in
    chatter, else None.

    >>> solve_question("What is 25 + 17?"), solve_question("Calculate 3/4 × 8."), solve_question("What is 7 / 2?")
    ('42', '6', '7/2')
    >>> solve_question("计算 1,200 - 35 等于多少？"), solve_question("Homework question: What is 10% of 200?")
    ('1165', '20')
    >>> solve_question("What is 1/4 of 60?"), solve_question("What is 3/4 of the 60 apples?") is None
    ('15', True)
    >>> solve_question("hey, waht is 8 - 8? Please explain."), solve_question("I don't get this. Solve for x: 9x = 180")
    ('0', '20')
    >>> solve_question("Tom has 3 apples and buys 4 more. How many now?") is None
    True
    >>> solve_question("What is 5?") is None, solve_question("What is 10 / 4? Round to the nearest whole number.")
    (True, None)
    """
    try:
        return _solved(mask_huge_numbers(question.strip()))
    except (SymbolicTimeout, SymbolicFailure) as exc:
        log.warning("question value not computed: %s", exc)
    return None


@functools.lru_cache(maxsize=1024)
def _solved(text: str) -> str | None:
    """``solve_question``'s value of a masked question. Cached because the app asks about the same question twice
    in a row (``MathCritic.wants_samples`` while the answer streams, then ``critique``), and each computation is a
    round trip to the bounded worker; a timeout or a worker failure raises, so it is never cached."""
    expr = _arithmetic_expression(text)
    if expr is not None:
        return run_bounded(exact_value, expr)
    equation = _linear_equation(text)
    if equation is not None:
        return run_bounded(linear_solution, *equation)
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


def linear_solution(left: str, right: str, var: str) -> str | None:
    """The one solution of a linear equation, or None (not linear, no single solution, out of bounds).

    >>> linear_solution("9*x", "180", "x"), linear_solution("x", "x + 1", "x")
    ('20', None)
    """
    try:
        return str(solve_linear_equation(left, right, var))
    except (ValueError, ZeroDivisionError, SyntaxError, TypeError):
        return None
