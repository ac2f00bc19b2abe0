"""The judge LLM part: any PolicyEngine (the local policy, or ``OpenAIEngine.for_url(judge_url, judge_model)``)
reads the critique prompt and writes an explanation ending in ``[[n]]``.

Greedy; an output without a parseable score is retried (``judge_retries``, at a small temperature so the
retry can differ) and then left unscored (None), never given an invented number.
"""

from __future__ import annotations

import re

from serving.critique.parse import parse_score
from serving.critique.prompt import build_critique_prompt
from serving.critique.types import PartScore
from serving.engine import EngineError, PolicyEngine
from mathchat.sampling import SamplingSettings

_RETRY_TEMPERATURE = 0.3
_MAX_EXPLANATION_CHARS = 600


def judge_sampling(max_tokens: int, attempt: int = 0) -> SamplingSettings:
    """Greedy on the first attempt, slightly random on retries (seeded, so runs repeat)."""
    if attempt == 0:
        return SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
    return SamplingSettings(temperature=_RETRY_TEMPERATURE, top_p=1.0, max_tokens=max_tokens, seed=attempt)


def strip_score(text: str) -> str:
    """The judge's explanation without its score tag.

    >>> strip_score("Step 2 is wrong. [[3]]")
    'Step 2 is wrong.'
    """
    return re.sub(r"\[\[\s*\d{1,3}\s*\]\]?", "", text).strip()[:_MAX_EXPLANATION_CHARS]


def judge_part(engine: PolicyEngine, question: str, reference: str | None, answer: str, *,
               max_tokens: int = 160, retries: int = 1) -> PartScore:
    """Ask the judge; PartScore('judge', n or None) with its explanation as detail."""
    messages = build_critique_prompt(question, reference, answer)
    outputs: list[str] = []
    for attempt in range(retries + 1):
        try:
            text = engine.sample(messages, judge_sampling(max_tokens, attempt), n=1)[0].text
        except EngineError as error:
            return PartScore("judge", None, f"judge unavailable: {error}", {"attempts": attempt + 1})
        outputs.append(text)
        score = parse_score(text)
        if score is not None:
            return PartScore("judge", float(score), strip_score(text),
                             {"attempts": attempt + 1, "raw": text[:_MAX_EXPLANATION_CHARS],
                              "engine": getattr(engine, "checkpoint_id", "")})
    return PartScore("judge", None, "judge gave no parseable score",
                     {"attempts": retries + 1, "raw": outputs[-1][:_MAX_EXPLANATION_CHARS] if outputs else ""})
