"""Checking the arithmetic an answer shows: every explicit ``a op b = c`` is recomputed with sympy.

Pure and model-free, so it holds even when the judge model cannot judge (the 135M default cannot).
Besides the wrong steps it reports whether a wrong value flows into the final answer ("tainted") and
which operands come from nowhere (neither the question, an earlier result, nor a common constant),
the usual trace of a misread question.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import sympy

from serving.critique.answers import LONG_ANSWER_CHARS, _as_fraction, extract_answer, normalize_answer
from serving.critique.types import PartScore

_SIDE_CHARS = r"[\d.+\-*/()%^ ]"
_EQUATION_RE = re.compile(rf"[\d(\-.]{_SIDE_CHARS}*(?:(?:=|≈){_SIDE_CHARS}*)+")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_ASSIGNMENT_RE = re.compile(r"(?:^|[\s,;:：，。(])[A-Za-z\u4e00-\u9fff]+\s*=$")  # "total = 2 + 3 = 5"
_JUXTAPOSED_RE = re.compile(r"\d\.?\s+(?=[\d(])")
_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "half": 2, "twice": 2, "double": 2, "triple": 3,
    "dozen": 12, "quarter": 4, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
    "八": 8, "九": 9, "十": 10, "半": 2, "倍": 2,
}
COMMON_CONSTANTS = frozenset({0, 1, 2, 3, 4, 10, 12, 24, 60, 100, 1000, 365, 3600})
"""Operands that need no source in the question (halves, percent, dozens, time units)."""
_OPERATOR_WORDS = (("times", "*"), ("multiplied by", "*"), ("plus", "+"), ("minus", "-"), ("divided by", "/"))
_MAX_EXPONENT = 64
_MAX_LITERAL_DIGITS = 30


@dataclass(frozen=True)
class Equation:
    """One explicit equation found in an answer, split at its ``=`` signs."""

    text: str
    sides: tuple[str, ...]
    values: tuple[sympy.Rational | None, ...]
    index: int
    approximate: bool = False


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
    final_supported: bool = False
    """The final answer is a value some shown step computes (stated or true), or there is no numeric final
    to judge; an unsupported final comes from nowhere."""

    @property
    def first_wrong_early(self) -> bool:
        return bool(self.wrong) and self.wrong[0].early


def _replace_frac(text: str) -> str:
    """``\\frac{a}{b}`` -> ``((a)/(b))``, innermost first."""
    pattern = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
    for _ in range(10):
        new = pattern.sub(r"((\1)/(\2))", text)
        if new == text:
            break
        text = new
    return text


def normalize_math(text: str) -> str:
    """Plain ASCII arithmetic from LaTeX/Unicode/GSM8K notation, one line per statement.

    >>> normalize_math(r"$\\frac{3}{4}\\times 8 = 6$ and 3 × 4 = 12, 12÷4=3")
    '((3)/(4))* 8 = 6 and 3 * 4 = 12, 12/4=3'
    >>> normalize_math("16-3 = <<16-3=13>>13 and 1,250 + 5 = 1,255")
    '16-3 = ;\\n16-3=13\\n;13 and 1250 + 5 = 1255'
    """
    text = re.sub(r"<<([^<>]*)>>", r";\n\1\n;", text)
    text = _replace_frac(text)
    for old, new in (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("×", "*"), ("·", "*"), ("∗", "*"),
                     ("÷", "/"), ("−", "-"), ("–", "-"), ("＝", "="), ("＋", "+"), ("－", "-"), ("（", "("),
                     ("）", ")"), ("\\left", ""), ("\\right", ""), ("\\approx", "≈"), ("\\%", "%"), ("\\,", ""),
                     ("\\(", " "), ("\\)", " "), ("\\[", " "), ("\\]", " "), ("$", " "), ("{", "("), ("}", ")")):
        text = text.replace(old, new)
    text = re.sub(r"(?<=\d)\s+[xX]\s+(?=\d)", " * ", text)
    for word, op in _OPERATOR_WORDS:
        text = re.sub(rf"(?<=\d)\s+{word}\s+(?=\d)", f" {op} ", text, flags=re.IGNORECASE)
    # a unit word between a number and an operator: "48 apples - 19 apples = 29 apples" -> "48 - 19 = 29 apples"
    text = re.sub(r"(?<=\d)\s+(?!(?:of|and|is|are|was|so|then)\b)[A-Za-z]+(?=\s*[-+*/=≈])", "", text)
    text = re.sub(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d])", lambda m: m.group(1).replace(",", ""), text)
    text = re.sub(r"(?<=\d)\.(?=[ \t])", ".\n", text)  # "= 74. 74 - 66" is two sentences, not a decimal
    return re.sub(r"[ \t]+", " ", text).replace(" \n", "\n").strip()


def _literal(node: ast.AST) -> sympy.Rational:
    value = node.value  # type: ignore[attr-defined]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    if len(str(value)) > _MAX_LITERAL_DIGITS:
        raise ValueError("literal too long")
    return sympy.Rational(repr(value)) if isinstance(value, float) else sympy.Integer(value)


def _evaluate_node(node: ast.AST) -> sympy.Rational:
    """Exact value of a numeric AST (only + - * / ** and numbers; bounded exponents)."""
    if isinstance(node, ast.Expression):
        return _evaluate_node(node.body)
    if isinstance(node, ast.Constant):
        return _literal(node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _evaluate_node(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = _evaluate_node(node.left), _evaluate_node(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise ZeroDivisionError
            return left / right
        if isinstance(node.op, ast.Pow):
            if not right.is_integer or abs(int(right)) > _MAX_EXPONENT or abs(left) > 10**6:
                raise ValueError("exponent out of range")
            return left ** int(right)
    raise ValueError(f"unsupported: {type(node).__name__}")


def evaluate_side(side: str) -> sympy.Rational | None:
    """Exact value of one side of an equation, or None when it is not plain arithmetic.

    >>> evaluate_side("((3)/(4))* 8"), evaluate_side("20% * 50"), evaluate_side("2^10"), evaluate_side("3 4")
    (6, 10, 1024, None)
    """
    expr = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", side.strip()).replace("^", "**")
    if not expr or not re.search(r"\d", expr):
        return None
    try:
        return sympy.Rational(_evaluate_node(ast.parse(expr, mode="eval")))
    except (SyntaxError, ValueError, ZeroDivisionError, TypeError, RecursionError):
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
    """Drop list numbering glued before the first side and trailing text after the last one."""
    first = sides[0]
    cuts = list(_JUXTAPOSED_RE.finditer(first))
    if cuts:
        first = first[cuts[-1].end():]
    last = sides[-1].strip().rstrip(".").strip()
    cut = _JUXTAPOSED_RE.search(last)
    if cut:
        last = last[: cut.start() + 1].rstrip(".")
    return [first.strip(), *[s.strip() for s in sides[1:-1]], last.strip()]


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
        raw = match.group(0).rstrip(" .")
        start, end = match.start(), match.start() + len(raw)
        before = text[:start]
        if before and (before[-1].isalnum() or before[-1] in "_.:!^'\""):  # "x2", "1:2 = 0.5", "x^2 = 4"
            continue
        stripped = before.rstrip(" ")
        if stripped and stripped[-1] in "+-*/^=(≈<>" and not _ASSIGNMENT_RE.search(stripped):
            continue
        if raw.startswith("-") and stripped and stripped[-1].isalnum():
            continue  # "apples - 89 = 10": a minus whose left operand is a word, not a negative number
        if end < len(text) and (text[end].isalpha() or text[end] == "_"):
            continue
        sides = _trim_sides(re.split(r"=|≈", raw))
        if len(sides) < 2 or any(not re.search(r"\d", s) for s in sides):
            continue
        if all(_NUMBER_RE.fullmatch(s.strip()) for s in sides) and len(set(sides)) == 1:
            continue  # "5 = 5" carries no computation
        values = tuple(evaluate_side(s) for s in sides)
        if sum(v is not None for v in values) < 2:
            continue
        found.append(Equation(text=" = ".join(sides), sides=tuple(sides), values=values, index=len(found),
                              approximate="≈" in raw))
    return found


def _numbers_in(text: str) -> set[sympy.Rational]:
    """Every number written in a text, as exact values, plus small number words."""
    values = {sympy.Rational(n) for n in _NUMBER_RE.findall(normalize_math(text))}
    lowered = text.lower()
    values |= {sympy.Integer(v) for w, v in _WORD_NUMBERS.items() if w in lowered}
    return values


def check_steps(answer: str, question: str | None = None) -> StepCheck:
    """Recompute every equation; name the wrong ones, whether the final answer inherits an error,
    and (given the question) which operands appear from nowhere.

    >>> check = check_steps("37 + 48 = 104. Then 104 - 20 = 84. The answer is 84.")
    >>> [w.describe() for w in check.wrong], check.final_tainted, check.first_wrong_early
    (['`37 + 48 = 104` is wrong: 37 + 48 = 85, not 104'], True, True)
    >>> check_steps("<<16-3=13>>13 eggs; 13 * 2 = 26. #### 26").wrong
    []
    """
    equations = find_equations(answer)
    wrong: list[WrongStep] = []
    tainted: set[sympy.Rational] = set()
    known: set[sympy.Rational] = set()
    sources = _numbers_in(question) if question else None
    ungrounded: list[str] = []
    n = len(equations)
    for eq in equations:
        operands = {sympy.Rational(x) for x in _NUMBER_RE.findall(eq.sides[0])}
        if sources is not None:
            for value in sorted(operands - sources - known - {sympy.Integer(c) for c in COMMON_CONSTANTS}):
                ungrounded.append(str(value))
        inherits = bool(operands & tainted)
        is_wrong = False
        for i in range(len(eq.sides) - 1):
            a, b = eq.values[i], eq.values[i + 1]
            if a is None or b is None or _sides_agree(eq.sides[i], eq.sides[i + 1], a, b, eq.approximate):
                continue
            continuation = re.match(r"\s*\(?\s*(\d+(?:\.\d+)?)", eq.sides[i + 1])
            if continuation and i + 1 < len(eq.sides) - 1 and sympy.Rational(continuation.group(1)) == a:
                continue  # running total "3*4 = 12 + 5 = 17": sloppy but not wrong arithmetic
            wrong.append(WrongStep(text=eq.text, left=eq.sides[i], stated=eq.sides[i + 1],
                                   expected=_format(a), index=eq.index, early=eq.index < n / 2))
            is_wrong = True
        results = {v for v in eq.values[1:] if v is not None}
        known |= results | ({eq.values[0]} if eq.values[0] is not None else set())  # stated and true values
        if inherits:
            tainted |= results
        elif is_wrong:
            tainted |= results - {eq.values[0]}
    final = extract_answer(answer, fallback=len(answer) <= LONG_ANSWER_CHARS)
    final_value = _as_fraction(normalize_answer(final)) if final else None
    final_tainted = final_value is not None and sympy.Rational(final_value) in tainted
    values = {v for eq in equations for v in eq.values if v is not None}
    final_supported = final_value is None or sympy.Rational(final_value) in values  # no evidence without a final
    return StepCheck(equations=equations, wrong=wrong, final_tainted=final_tainted, ungrounded=ungrounded,
                     final_supported=final_supported)


def _format(value: sympy.Rational) -> str:
    """Integers as integers, other values as a short decimal or fraction.

    >>> _format(sympy.Integer(85)), _format(sympy.Rational(3, 4)), _format(sympy.Rational(10, 3))
    ('85', '0.75', '10/3')
    """
    if value.is_integer:
        return str(int(value))
    decimal = float(value)
    if sympy.Rational(repr(round(decimal, 6))) == value:
        return repr(round(decimal, 6))
    return f"{value.p}/{value.q}"


def steps_part(answer: str, question: str | None = None) -> PartScore:
    """The step checker as a critic part: 1-10 by what it found; None when the answer shows no arithmetic.

    >>> steps_part("37 + 48 = 104. The answer is 104.").score, steps_part("It is 85.").score
    (2.0, None)
    """
    check = check_steps(answer, question)
    data = {
        "n_equations": len(check.equations),
        "wrong": [{"text": w.text, "expected": w.expected, "stated": w.stated, "index": w.index,
                   "early": w.early, "description": w.describe()} for w in check.wrong],
        "final_tainted": check.final_tainted,
        "first_wrong_early": check.first_wrong_early,
        "ungrounded": check.ungrounded,
        "final_supported": check.final_supported,
        "has_final": extract_answer(answer) is not None,
    }
    if not check.equations:
        return PartScore("steps", None, "no explicit arithmetic to check", data)
    if check.wrong and check.final_tainted:
        score = 2.0 if check.first_wrong_early else 4.0
    elif check.wrong and check.final_supported:
        score = 7.0
    elif check.ungrounded or not check.final_supported:
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
    if not check.final_supported and data["has_final"]:
        detail += "; no shown step computes the final answer"
    return PartScore("steps", score, detail, data)
