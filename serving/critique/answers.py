"""Final-answer extraction and equivalence: the one place that decides "is this the same answer".

Evaluation (exact-answer accuracy), the critic's reference check and self-consistency all call
``extract_answer`` and ``answers_equivalent``; nothing else should compare answers.

Extraction follows, in order: the last ``\\boxed{...}``; GSM8K's ``#### N`` marker (normalised as in
nanochat ``tasks/gsm8k.py``: the number after ``####`` with thousands commas removed); an explicit
statement ("The answer is N", "Final answer: N", 答案是/答案为/答：); and last the final number in the
text (the fallback nanochat and lm-eval-harness's "flexible-extract" use). Equivalence is decided by
math-verify (``parse`` + ``verify``, which uses sympy) after light normalisation of units, currency,
thousands separators and percentages.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction

from math_verify import parse, verify

from serving.critique.bounded import MAX_LITERAL_DIGITS, SymbolicFailure, SymbolicTimeout, oversized, run_bounded
from serving.critique.types import PartScore

# We pass timeout=None (signal-based timeouts only work in the main thread): math-verify runs in a symbolic
# worker process instead, killed when it overruns (serving.critique.bounded).
logging.getLogger("math_verify").setLevel(logging.ERROR)
log = logging.getLogger(__name__)

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_NUMBER_RE = re.compile(r"(?<![\w.])(" + _NUMBER + r")(?:\s*/\s*(\d+))?\s*(%)?")
_GSM8K_RE = re.compile(r"####\s*(\-?[0-9\.\,]+(?:/[0-9]+)?)")
_STATEMENT_RES = [
    re.compile(r"(?:final answer|the answer)\s*(?:is|:|=)\s*:?\s*(.+)", re.IGNORECASE),
    re.compile(r"^\s*answer\s*[:：]\s*(.+)", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^[\s#>]*\*\*answer\s*[:：]\s*([$]?-?\d[^*\n]*?)\s*\*\*", re.IGNORECASE | re.MULTILINE),  # "**Answer: 63 L**"
    re.compile(r"(?:最终答案|答案)\s*(?:是|为|[:：=])\s*[:：]?\s*(.+)"),
    re.compile(r"(?:^|[\n。.!！])\s*答\s*[:：]\s*(.+)"),
]
_THOUSANDS_RE = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d])")
_LATEX_TEXT_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")
_CURRENCY_RE = re.compile(r"[$€£¥￥]|\\\$|\b(?:USD|RMB|dollars?|cents?|yuan)\b|元|美元")
_UNIT_WORDS_RE = re.compile(
    r"(?<=\d)\s*(?:(?:cm\^?2|cm|mm|km|m\^?2|m|kg|g|mg|ml|l|s|sec|seconds?|min|minutes?|hours?|h|days?|weeks?|"
    r"years?|apples?|people|students?|items?|units?|degrees?)(?![A-Za-z])|°|个|只|人|元|米|厘米|千米|克|千克|天|小时|分钟|秒|岁|本|块|辆|张|支)",
    re.IGNORECASE,
)
_SCALE_WORDS = (r"(?:hundred|thousand|million|billion|trillion|dozens?|percent|per|pi|sqrt|root|squared|cubed|times"
                r"|over|plus|minus|and|or|to|of|x|i|e)")
_NOUNS_AFTER_NUMBER_RE = re.compile(rf"^(-?\d+(?:\.\d+)?(?:/\d+)?)(?:\s+(?!{_SCALE_WORDS}\b)[A-Za-z]+){{1,3}}\s*\.?$",
                                    re.IGNORECASE)
"""A number followed only by the words that name what it counts ("10 guests", "7 full boxes"): the number is the
answer; a word that scales or continues it ("2 million", "3 times", "5 and a half") keeps the text as written."""
_MAX_ANSWER_CHARS = 200
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
LONG_ANSWER_CHARS = 600
"""Longer answers get no last-number fallback when checked against a reference (it guesses badly in prose)."""


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced.

    >>> _last_boxed(r"so \\boxed{\\frac{3}{4}} and \\boxed{12}")
    '12'
    """
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for i in range(brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : i].strip()
    return None


def _trim_statement(tail: str) -> str:
    """The answer part of "The answer is ...": up to the sentence end, markup stripped."""
    tail = tail.strip().split("\n")[0]
    boxed = _last_boxed(tail)
    if boxed is not None:
        return boxed
    tail = re.split(r"[.。;；!！](?!\d)|,\s(?=[A-Za-z])|，", tail, maxsplit=1)[0]
    tail = tail.strip().lstrip(":：").strip().lstrip("*")
    tail = re.split(r"\*\*|\s+\(", tail, maxsplit=1)[0]  # "248.2 minutes** (that's about 4 hours and 8 minutes)"
    return tail.strip().strip("*").strip("$ ").strip()


_PLACEHOLDER_RE = re.compile(
    r"[A-Za-z]|\?+|_+|…|\.{2,}|n/a|unknown|tbd|[\[<{(]\s*[A-Za-z ]+\s*[\]>})]", re.IGNORECASE)
"""What a final answer is when it is no value: a bare letter ("N", "x"), "?", "___", "[answer]"."""
_VALUE_LETTERS = frozenset({"e", "i"})


def _resolve_placeholder(answer: str, text: str) -> str | None:
    """A stated final as a value: unchanged unless it is a placeholder; then the value the text binds to it
    ("so x = 5. The answer is x." -> "5"), the letter itself when the text lists it as an option ("(C)"),
    else None: "The answer is N" states no value.

    >>> _resolve_placeholder("N", "12 - 12 = 0 apples left. The answer is N")
    >>> _resolve_placeholder("x", "so x = 36 - 5 = 31. The answer is x.")
    '31'
    >>> _resolve_placeholder("C", "(A) 3 (B) 4 (C) 5. The answer is C"), _resolve_placeholder("3/4", "")
    ('C', '3/4')
    """
    bare = normalize_answer(answer).strip("*()[]{}<> ")
    if not _PLACEHOLDER_RE.fullmatch(normalize_answer(answer)) or bare in _VALUE_LETTERS:
        return answer
    if len(bare) == 1 and bare.isalpha():
        bound = re.findall(rf"(?<![A-Za-z]){re.escape(bare)}\s*=\s*([^=\n;,]+(?:=[^=\n;,]+)*)", text)
        for chain in reversed(bound):
            value = normalize_answer(_trim_statement(chain.rsplit("=", 1)[-1]))
            if _as_fraction(value) is not None:
                return value
        if re.search(rf"(?:^|\s)\(\s*{re.escape(bare)}\s*\)|^\s*{re.escape(bare)}\s*[).:：、]", text, re.MULTILINE):
            return answer
    return None


def _explicit_answer(text: str) -> str | None:
    """The final answer the text states explicitly (boxed, ``####``, "The answer is ..."), as written."""
    boxed = _last_boxed(text)
    if boxed:
        return boxed[:_MAX_ANSWER_CHARS]
    marker = _GSM8K_RE.findall(text)
    if marker:
        return marker[-1].replace(",", "").rstrip(".")
    for pattern in _STATEMENT_RES:
        found = pattern.findall(text)
        if found:
            answer = _trim_statement(found[-1])
            if answer:
                return answer[:_MAX_ANSWER_CHARS]
    return _answer_sentence(text)


_ANSWER_SENTENCE_RE = re.compile(r"^[\s#>]*\*\*answer\s*[:：]\s*\*\*[ \t]*(.+)", re.IGNORECASE | re.MULTILINE)
_RESULT_RE = re.compile(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)")


def _answer_sentence(text: str) -> str | None:
    """The value of a "**Answer:** sentence" line: the sentence's last number that the work computed as a
    result ("**Answer:** The Hawks must score 28 goals in their last 6 games." after "70 - 42 = 28"), else None.

    >>> _answer_sentence("70 - 42 = 28 goals\\n\\n**Answer:** The Hawks must score 28 goals in their last 6 games.")
    '28'
    >>> _answer_sentence("**Answer:** They need 6 more games.") is None
    True
    """
    found = _ANSWER_SENTENCE_RE.findall(text)
    if not found:
        return None
    results = {r.replace(",", "") for r in _RESULT_RE.findall(text[:text.rfind(found[-1])])}
    stated = [n.replace(",", "") for n, *_ in _NUMBER_RE.findall(found[-1])]
    computed = [n for n in stated if n in results]
    return computed[-1] if computed else None


def stated_placeholder(text: str) -> str | None:
    """The stated final answer when it is no value ("The answer is N" -> "N"), else None.

    >>> stated_placeholder("12 - 12 = 0 apples left. The answer is N"), stated_placeholder("The answer is 0.")
    ('N', None)
    """
    explicit = _explicit_answer(text) if text else None
    return explicit if explicit is not None and _resolve_placeholder(explicit, text) is None else None


def extract_answer(text: str, *, fallback: bool = True) -> str | None:
    """The final answer stated in a reply, as a short string; None when there is none. A stated
    placeholder ("The answer is N") is no final answer, and no last-number guess replaces it.

    >>> extract_answer("37 + 48 = 85. The answer is 85.")
    '85'
    >>> extract_answer("Natalia sold 48/2 = <<48/2=24>>24 clips.\\n#### 1,024")
    '1024'
    >>> extract_answer(r"So the result is $\\boxed{\\frac{3}{4}}$.")
    '\\\\frac{3}{4}'
    >>> extract_answer("所以小明一共有 12 个苹果。答：12个")
    '12个'
    >>> extract_answer("First 3 + 4 = 7, then 7 * 2 = 14")
    '14'
    >>> extract_answer("**Answer: 248.2 minutes** (that's about 4 hours and 8 minutes).")
    '248.2 minutes'
    >>> extract_answer("I don't know") is None, extract_answer("12 - 12 = 0 left. The answer is N") is None
    (True, True)
    """
    if not text:
        return None
    explicit = _explicit_answer(text)
    if explicit is not None:
        return _resolve_placeholder(explicit, text)
    numbers = _NUMBER_RE.findall(text) if fallback else []
    if numbers:
        number, denominator, percent = numbers[-1]
        return number.replace(",", "") + (f"/{denominator}" if denominator else "") + percent
    return None


def extract_reference(reference: str | None, max_short_chars: int = 40) -> str | None:
    """The checkable final answer of a reference: a short reference is the answer itself; a long
    worked solution only yields one through an explicit marker (never the last-number guess).

    >>> extract_reference("85"), extract_reference("x = 5"), extract_reference(None)
    ('85', 'x = 5', None)
    >>> extract_reference("First 3 + 4 = 7 then we double it to get 14 " * 3) is None
    True
    """
    if not reference or not reference.strip():
        return None
    text = reference.strip()
    if len(text) <= max_short_chars and "\n" not in text:
        found = extract_answer(text, fallback=False) or text
    else:
        found = extract_answer(text, fallback=False)
    return found if found is not None and is_checkable(found) else None


def is_checkable(answer: str, max_chars: int = 40) -> bool:
    """Whether an answer is a short mathematical value we can compare (no prose, no Chinese words).

    >>> is_checkable("85"), is_checkable(r"\\frac{3}{4}"), is_checkable("当 X = 0 时"), is_checkable("100.5千克")
    (True, True, False, True)
    """
    value = normalize_answer(answer)
    return bool(value) and len(value) <= max_chars and not _CJK_RE.search(value)


def gsm8k_reference(answer_text: str) -> str | None:
    """The exact answer of a GSM8K solution (the number after ``####``), commas removed.

    >>> gsm8k_reference("She has 3 + 4 = <<3+4=7>>7 pens.\\n#### 7")
    '7'
    >>> gsm8k_reference("#### 1,250") + "|" + str(gsm8k_reference("no marker"))
    '1250|None'
    """
    found = _GSM8K_RE.findall(answer_text or "")
    return found[-1].replace(",", "").rstrip(".") if found else None


def without_thousands_commas(text: str) -> str:
    """``1,250`` -> ``1250`` wherever a number groups its thousands with commas ("3, 4" and "1,25" stay).

    >>> without_thousands_commas("5 liters = 5,000 mL; 1,234,567 and 3, 4")
    '5 liters = 5000 mL; 1234567 and 3, 4'
    """
    return _THOUSANDS_RE.sub(lambda m: m.group(1).replace(",", ""), text)


def unwrap_latex_text(text: str) -> str:
    r"""``\text{ L}`` -> `` L``: LaTeX's text commands keep their words and drop the markup."""
    return _LATEX_TEXT_RE.sub(r"\1", text)


def normalize_answer(answer: str) -> str:
    """Strip what never changes an answer's value: LaTeX wrappers, currency, units, thousands commas.

    >>> normalize_answer(r"$1,250.00")
    '1250.00'
    >>> normalize_answer("12 apples")
    '12'
    >>> normalize_answer(r"\\text{ 5 cm}")
    '5'
    >>> normalize_answer("10 guests"), normalize_answer("7 full boxes."), normalize_answer("2 million")
    ('10', '7', '2 million')
    """
    text = answer.strip()
    text = unwrap_latex_text(text)
    text = text.replace("\\!", "").replace("\\,", "").replace("\\ ", " ").replace("\\%", "%")
    text = text.strip().strip("$").strip()
    text = _CURRENCY_RE.sub("", text)
    text = without_thousands_commas(text)
    text = _UNIT_WORDS_RE.sub("", text)
    text = _NOUNS_AFTER_NUMBER_RE.sub(r"\1", text.strip())
    text = text.replace("\\/", "/")
    if text.count("=") >= 1 and not re.search(r"[<>≤≥]", text):
        text = text.rsplit("=", 1)[1] or text  # "x = 5" -> "5", "4^3=64" -> "64"
    return text.strip().rstrip(".。").strip()


def _as_fraction(text: str) -> Fraction | None:
    """Exact value of a plain number, fraction or percentage, else None.

    >>> _as_fraction("3/4"), _as_fraction("25%"), _as_fraction("x")
    (Fraction(3, 4), Fraction(1, 4), None)
    """
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?|-?\.\d+)\s*(?:/\s*(\d+))?\s*(%)?\s*", text)
    if not match or len(text) > 3 * MAX_LITERAL_DIGITS:
        return None
    value = Fraction(match.group(1))
    if match.group(2):
        if int(match.group(2)) == 0:
            return None
        value /= int(match.group(2))
    if match.group(3):
        value /= 100
    return value


def _numbers_equal(pred: str, ref: str) -> bool | None:
    """Compare plain numbers exactly; a bare percentage also matches its number (25% ~ 25 ~ 0.25)."""
    a, b = _as_fraction(pred), _as_fraction(ref)
    if a is None or b is None:
        return None
    if a == b:
        return True
    pct_a, pct_b = pred.strip().endswith("%"), ref.strip().endswith("%")
    if pct_a != pct_b:
        plain = _as_fraction((pred if pct_a else ref).rstrip().rstrip("%"))
        other = b if pct_a else a
        return plain == other
    return False


def _wrap(text: str) -> str:
    return text if text.startswith("$") or "\\(" in text else f"${text}$"


def answers_equivalent(pred: str | None, ref: str | None) -> bool:
    """Whether two final answers mean the same value (math-verify/sympy, after normalisation).

    >>> answers_equivalent("1,000", "1000"), answers_equivalent("$12.50", "12.5")
    (True, True)
    >>> answers_equivalent("25%", "0.25"), answers_equivalent("3/4", r"\\frac{3}{4}")
    (True, True)
    >>> answers_equivalent(r"\\{1, 2\\}", r"\\{2, 1\\}"), answers_equivalent("(1, 2]", "(1, 2)")
    (True, False)
    >>> answers_equivalent("7", "8"), answers_equivalent(None, "8")
    (False, False)
    """
    if pred is None or ref is None:
        return False
    a, b = normalize_answer(pred), normalize_answer(ref)
    if not a or not b:
        return False
    if a == b:
        return True
    exact = _numbers_equal(a, b)
    if exact is not None:
        return exact
    if oversized(a) or oversized(b):
        return False  # "9^{9^{9}}": too big to compare, so not shown equal
    try:
        return run_bounded(verify_equal, a, b)
    except (SymbolicTimeout, SymbolicFailure) as exc:
        log.warning("answer comparison stopped: %s", exc)
        return False


def verify_equal(pred: str, ref: str) -> bool:
    """math-verify's verdict on two normalised answers, in this process and unbounded in time (the symbolic
    worker's task; call ``answers_equivalent``)."""
    try:
        gold = parse(_wrap(ref), parsing_timeout=None)
        target = parse(_wrap(pred), parsing_timeout=None)
        if not gold or not target:
            return False
        return bool(verify(gold, target, timeout_seconds=None))
    except Exception:  # math-verify/sympy can raise on odd input; unknown is "not equal"
        return False


def answer_match_part(answer: str, reference: str | None) -> PartScore:
    """The reference check as a critic part: 10 when the final answers agree, 1 when not (an answer that
    never states a result is not right either), None when there is no checkable reference.

    >>> answer_match_part("so 37 + 48 = 85", "85").score, answer_match_part("so it is 84", "85").score
    (10.0, 1.0)
    >>> answer_match_part("so it is 84", None).score is None
    True
    """
    ref = extract_reference(reference)
    stated = extract_answer(answer, fallback=False)
    pred = stated if stated is not None else extract_answer(answer)
    data = {"reference_answer": ref, "final": pred, "has_final": pred is not None, "explicit": stated is not None}
    if ref is None:
        why = "no reference" if not reference else "the reference states no short final answer"
        return PartScore("answer_match", None, f"reference not checked: {why}", data)
    if pred is None:
        return PartScore("answer_match", 1.0, f"the answer states no final result (reference {ref})",
                         {**data, "equivalent": False})
    same = answers_equivalent(pred, ref)
    if stated is None and len(answer) > LONG_ANSWER_CHARS and not same:
        # a long answer that never states its result: its last number is a poor guess of what it meant,
        # but no stated answer equal to the reference is still a wrong final answer
        return PartScore("answer_match", 1.0, f"the answer never states a final result equal to the reference {ref}",
                         {**data, "equivalent": False})
    verdict = "matches" if same else "does not match"
    return PartScore("answer_match", 10.0 if same else 1.0,
                     f"final answer {pred} {verdict} the reference {ref}", {**data, "equivalent": same})
