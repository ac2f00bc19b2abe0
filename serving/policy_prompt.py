"""The policy's system prompt and how a conversation becomes model input: one place for chat and training."""

from __future__ import annotations

from collections.abc import Sequence

from serving.engine import ChatMessage

POLICY_SYSTEM_PROMPT = (
    "You are a careful math tutor. Solve the problem step by step with short steps, "
    "then end with a final line of the form 'The answer is N.'"
)
"""Strict answer format: the default model follows it ~77% of the time, and RFT raises that to ~98% (DESIGN.md)."""


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
