"""Near-duplicate detection for answers: normalised text first, then a character-level similarity ratio."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher


def normalize_answer_text(text: str) -> str:
    """Whitespace-, case- and width-insensitive form of an answer.

    >>> normalize_answer_text(" The  answer is 5. ")
    'the answer is 5.'
    """
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def similarity(a: str, b: str) -> float:
    """Similarity ratio in [0, 1] of two normalised texts (difflib's Ratcliff/Obershelp).

    >>> similarity("abc", "abc"), similarity("abc", "xyz")
    (1.0, 0.0)
    """
    return SequenceMatcher(None, normalize_answer_text(a), normalize_answer_text(b), autojunk=False).ratio()


def dedupe_texts(texts: Sequence[str], threshold: float = 0.9) -> list[int]:
    """Indices of the texts kept, in order: a text is dropped when its normalised form equals, or is at
    least ``threshold`` similar to, an earlier kept text.

    >>> dedupe_texts(["The answer is 5.", "the answer is  5.", "First 2+3=5. The answer is 5."])
    [0, 2]
    """
    kept: list[int] = []
    kept_norm: list[str] = []
    for i, text in enumerate(texts):
        norm = normalize_answer_text(text)
        if any(norm == k or similarity(norm, k) >= threshold for k in kept_norm):
            continue
        kept.append(i)
        kept_norm.append(norm)
    return kept


def states_answer(text: str) -> bool:
    """Whether a reply states its final answer explicitly ("The answer is N", \\boxed{N}, 答案是 N).

    >>> states_answer("2+3=5. The answer is 5."), states_answer("2+3=5")
    (True, False)
    """
    from serving.critique.answers import extract_answer

    return extract_answer(text, fallback=False) is not None
