"""The policy's system prompt and how a conversation becomes model input: one place for chat and training."""

from __future__ import annotations

from collections.abc import Sequence

from serving.engine import ChatMessage

POLICY_SYSTEM_PROMPT = (
    "You are a careful math tutor. Solve the problem step by step with short steps, "
    "then end with a final line of the form 'The answer is N.'"
)
"""Strict answer format: the default model follows it ~77% of the time, and RFT raises that to ~98% (DESIGN.md)."""


CHARS_PER_TOKEN = 2
"""Conservative characters-per-token estimate used to keep prompts inside the model's context."""


def trim_history(history: Sequence[ChatMessage], max_chars: int) -> list[ChatMessage]:
    """The most recent turns whose text fits in ``max_chars`` (older turns are dropped first, whole).

    >>> h = [{"role": "user", "content": "a" * 10}, {"role": "assistant", "content": "b" * 10},
    ...      {"role": "user", "content": "c" * 10}, {"role": "assistant", "content": "d" * 10}]
    >>> [m["content"][0] for m in trim_history(h, 25)]
    ['c', 'd']
    >>> trim_history(h, 5)
    []
    """
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(history):
        used += len(message["content"])
        if used > max_chars:
            break
        kept.append(message)
    kept.reverse()
    while kept and kept[0]["role"] != "user":  # never start mid-exchange
        kept.pop(0)
    return kept


def history_budget_chars(max_model_len: int, max_tokens: int, question: str) -> int:
    """Characters of earlier turns that fit beside the system prompt, the question and the answer budget.

    >>> history_budget_chars(2048, 384, "x" * 100)
    2964
    """
    free_tokens = max_model_len - max_tokens - 64  # chat-template overhead
    return max(0, free_tokens * CHARS_PER_TOKEN - len(POLICY_SYSTEM_PROMPT) - len(question))


def build_policy_messages(history: Sequence[ChatMessage], question: str,
                          system: str | None = POLICY_SYSTEM_PROMPT) -> list[ChatMessage]:
    """System prompt, earlier turns, then the new question.

    >>> [m["role"] for m in build_policy_messages([{"role": "user", "content": "1+1?"},
    ...                                             {"role": "assistant", "content": "2"}], "2+2?")]
    ['system', 'user', 'assistant', 'user']
    """
    messages: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    messages.extend({"role": m["role"], "content": m["content"]} for m in history)
    messages.append({"role": "user", "content": question})
    return messages
