"""What a student may send: pure checks that give a clear message, before anything reaches the model or DB."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class RejectedInput(ValueError):
    """The input was refused; the message is shown to the student as it is."""


def strip_control(text: str) -> str:
    """Text without control and bidi-override characters (newlines and tabs stay), NFC-normalised and stripped.

    >>> strip_control("  good\\u202e\\x00 point ")
    'good point'
    """
    return unicodedata.normalize("NFC", _CONTROL.sub("", text.replace("\r\n", "\n"))).strip()


def clean_question(text: object, max_chars: int) -> str:
    """Normalise a question or raise RejectedInput naming the problem.

    Control and bidi-override characters are removed (they are invisible and only confuse the model);
    newlines and tabs stay.

    >>> clean_question("  What is 2+2?\\x00 ", 100)
    'What is 2+2?'
    >>> clean_question("   ", 100)
    Traceback (most recent call last):
    ...
    serving.input_checks.RejectedInput: Please type a question first.
    >>> clean_question("x" * 11, 10)
    Traceback (most recent call last):
    ...
    serving.input_checks.RejectedInput: Your question is 11 characters long; the limit is 10. Please shorten it.
    """
    if not isinstance(text, str):
        raise RejectedInput("A question must be text.")
    text = strip_control(text)
    if not text:
        raise RejectedInput("Please type a question first.")
    if len(text) > max_chars:
        raise RejectedInput(f"Your question is {len(text)} characters long; the limit is {max_chars}. "
                            "Please shorten it.")
    return text
