"""The policy-engine interface every other part uses: stream a reply, sample n replies, report health.

Engines know nothing about critique, storage or the UI. Sampling parameters are always passed in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict, runtime_checkable

from mathchat.sampling import SamplingSettings


class ChatMessage(TypedDict):
    """One OpenAI-style chat turn, e.g. ``{"role": "user", "content": "What is 2+2?"}``."""

    role: str
    content: str


class EngineError(RuntimeError):
    """The engine could not produce (all of) a reply: server down, died mid-stream, timed out."""


class SampleCancelled(EngineError):
    """``sample`` stopped because its ``cancel`` event was set; the server stopped generating too."""


@dataclass(frozen=True)
class Sample:
    """One sampled reply."""

    text: str
    finish_reason: str | None = None
    num_tokens: int = 0
    token_logprobs: list[float] | None = None
    """Log-probability of each generated token, when asked for."""

    @property
    def mean_logprob(self) -> float | None:
        """Average token log-probability (a cheap confidence signal)."""
        if not self.token_logprobs:
            return None
        return sum(self.token_logprobs) / len(self.token_logprobs)


@dataclass(frozen=True)
class StreamEvent:
    """A piece of a streamed reply; the last event has ``done=True`` and the usage counts."""

    delta: str = ""
    done: bool = False
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    checkpoint_id: str = ""


@dataclass(frozen=True)
class Health:
    """What an engine reports about itself."""

    ok: bool
    backend: str
    checkpoint_id: str
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class PolicyEngine(Protocol):
    """What the app, the critic and the training loop need from a policy model."""

    backend: str

    @property
    def checkpoint_id(self) -> str:
        """Id of the checkpoint currently served (recorded with every answer)."""
        ...

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> Iterator[StreamEvent]:
        """Yield the reply as it is generated; raise EngineError if it cannot finish."""
        ...

    def sample(
        self,
        messages: Sequence[ChatMessage],
        sampling: SamplingSettings,
        n: int = 1,
        logprobs: bool = False,
        cancel: threading.Event | None = None,
    ) -> list[Sample]:
        """Draw n complete replies for one conversation.

        Setting ``cancel`` stops the request (the server stops generating within about a token) and raises
        ``SampleCancelled``: a caller that stopped waiting does not leave the server working for nobody."""
        ...

    def sample_many(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        sampling: SamplingSettings,
        n: int = 1,
        logprobs: bool = False,
    ) -> list[list[Sample]]:
        """``sample`` for many conversations at once (batched or concurrent); one list per conversation."""
        ...

    def health(self) -> Health:
        """Cheap liveness/identity check."""
        ...


def collect_stream(events: Iterator[StreamEvent]) -> tuple[str, StreamEvent]:
    """Join a stream into (text, final event); for callers that don't display partial text."""
    parts: list[str] = []
    last = StreamEvent(done=True)
    for event in events:
        parts.append(event.delta)
        if event.done:
            last = event
    return "".join(parts), last
