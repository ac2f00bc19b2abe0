"""Reading a score out of a judge's output, leniently (the paper's own critic sometimes writes ``[[9]``).

Only ever applied to the JUDGE's output, never to the answer being judged: an answer that writes
``[[10]]`` cannot score itself.
"""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"\[\[\s*(\d{1,3})\s*\]\]?"),  # [[7]] and the badly closed [[7]
    re.compile(r"(?<!\[)\[\s*(\d{1,3})\s*\](?!\])"),  # [7]
    re.compile(r"(?:评分|得分|分数|打分)\s*(?:为|是)?\s*[:：]?\s*(\d{1,3})(?:\s*(?:/|分|／)\s*(?:10|十)?)?"),
    re.compile(r"(?:score|rating|grade)\s*(?:is|of|=)?\s*[:：]?\s*\**\s*(\d{1,3})(?:\s*(?:/|out of)\s*10)?", re.I),
    re.compile(r"(?<![\d.])(\d{1,3})\s*(?:/|out of)\s*10(?!\d)", re.I),
]


def parse_score(text: str | None) -> int | None:
    """The judge's 1-10 score; the LAST score written wins; None when there is no valid one.

    >>> parse_score("Step 2 is wrong. [[3]]")
    3
    >>> parse_score("All steps check out. [[9]")
    9
    >>> parse_score("解析：答案正确。评分：[[7]]")
    7
    >>> parse_score("Score: 8/10")
    8
    >>> parse_score("[[10]]")
    10
    >>> parse_score("First I thought [[4]], but on reflection [[8]]")
    8
    >>> parse_score("[[11]]") is None, parse_score("[[0]]") is None, parse_score("no score here") is None
    (True, True, True)
    >>> parse_score("评分：6分")
    6
    """
    if not text:
        return None
    best: tuple[int, int] | None = None  # (position, score) of the last candidate
    for priority, pattern in enumerate(_PATTERNS):
        for match in pattern.finditer(text):
            if best is None or match.start() > best[0]:
                best = (match.start(), int(match.group(1)))
        if best is not None and priority == 0:
            break  # the [[n]] form is the contract; other forms only when it is absent
    if best is None or not 1 <= best[1] <= 10:
        return None
    return best[1]
