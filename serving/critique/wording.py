"""Arithmetic that an answer writes in words, rewritten in numerals and operators for the step reader.

Capable writers state steps in prose: "Twenty-five percent of $80 is $20", "A third of 84 is 28", "$0.25 per
ounce = 25 cents per ounce". The step reader reads numerals and operators; these rewrites give it the same
step in its own notation ("25% of $80 is $20", "1/3 * 84 is 28", "$0.25 per ounce = (25/100) dollars"), so a
right step is checked as right and a wrong one as wrong, instead of neither being read at all.
"""

from __future__ import annotations

import re

from serving.critique.numerals import CARDINALS

_CENTS_AFTER_DOLLARS_RE = re.compile(
    r"(\$\s*\d+(?:\.\d+)?(?:\s+per\s+[A-Za-z]+)?\s*=\s*)(\d+(?:\.\d+)?)\s*(?:cents?\b|¢)", re.IGNORECASE)
"""``$0.25 per ounce = 25 cents``: the same amount in cents, read as dollars so the chain still computes."""
_SHARE_FRACTIONS = {"half": "1/2", "a half": "1/2", "one half": "1/2", "a third": "1/3", "one third": "1/3",
                    "two thirds": "2/3", "a quarter": "1/4", "one quarter": "1/4", "a fourth": "1/4",
                    "one fourth": "1/4", "three quarters": "3/4"}
_SHARE_OF_RE = re.compile(r"\b((?:a|one)\s+(?:half|third|quarter|fourth)|half|two[\s-]+thirds|three[\s-]+quarters)"
                          r"\s+of\s+(?=\$?\s*\d)", re.IGNORECASE)
"""Shares named in words before "of" and a number: "a third of 84" is ``1/3 * 84``."""
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_COMPOUND_WORDS_RE = re.compile(rf"\b({'|'.join(_TENS)})-(one|two|three|four|five|six|seven|eight|nine)\b", re.I)
_WORD_PERCENT_RE = re.compile(rf"\b({'|'.join([*CARDINALS, *_TENS])})\s+percent\b", re.IGNORECASE)


def _share_as_fraction(match: re.Match[str]) -> str:
    return _SHARE_FRACTIONS[" ".join(re.split(r"[\s-]+", match.group(1).lower()))] + " * "


def words_as_numerals(text: str) -> str:
    """Numbers that words write unmistakably, as numerals: "twenty-five" (a hyphenated compound), and a number
    word before "percent".

    >>> words_as_numerals("Twenty-five percent of $80; ten percent off; one of them; 6 percent")
    '25% of $80; 10% off; one of them; 6%'
    """
    lowered = text.lower()  # most answers hold neither: skip the long alternations then
    if "ty-" in lowered:
        text = _COMPOUND_WORDS_RE.sub(lambda m: str(_TENS[m.group(1).lower()] + CARDINALS[m.group(2).lower()]), text)
    if "percent" not in lowered:
        return text
    text = _WORD_PERCENT_RE.sub(lambda m: f"{CARDINALS.get(m.group(1).lower()) or _TENS[m.group(1).lower()]}%", text)
    return re.sub(r"(?<=\d)\s+percent\b", "%", text, flags=re.IGNORECASE)


def words_as_arithmetic(text: str) -> str:
    r"""Prose arithmetic in numerals: LaTeX's ``\$`` as ``$``, cents restating dollars, number words, shares.

    >>> words_as_arithmetic(r"A third of \$84 is \$28; $0.25 per ounce = 25 cents; half the cake")
    '1/3 * $84 is $28; $0.25 per ounce = (25/100) dollars; half the cake'
    """
    text = _CENTS_AFTER_DOLLARS_RE.sub(r"\1(\2/100) dollars", text.replace("\\$", "$"))
    return _SHARE_OF_RE.sub(_share_as_fraction, words_as_numerals(text))
