"""A scripted policy engine for unit tests (the real engines are exercised in the integration tests)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

from serving.engine import ChatMessage, EngineError, Health, Sample, StreamEvent
from serving.sampling import SamplingSettings

Reply = str | Callable[[Sequence[ChatMessage], SamplingSettings], str]


class FakeEngine:
    """Replies from a script, cycling; records every call.

    ``fail_after`` makes stream_chat raise EngineError after that many characters (a dying server).
    """

    backend = "fake"

    def __init__(self, replies: Sequence[Reply] = ("The answer is 4.",), checkpoint_id: str = "fake-ckpt",
                 fail_after: int | None = None) -> None:
        self._replies = itertools.cycle(list(replies))
        self._checkpoint_id = checkpoint_id
        self.fail_after = fail_after
        self.calls: list[tuple[str, list[ChatMessage], SamplingSettings]] = []

    @property
    def checkpoint_id(self) -> str:
        return self._checkpoint_id

    def _next(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> str:
        reply = next(self._replies)
        return reply(messages, sampling) if callable(reply) else reply

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> Iterator[StreamEvent]:
        self.calls.append(("stream", list(messages), sampling))
        text = self._next(messages, sampling)
        sent = 0
        for word in text.split(" "):
            piece = word if sent == 0 else " " + word
            if self.fail_after is not None and sent + len(piece) > self.fail_after:
                raise EngineError("fake engine died mid-stream")
            sent += len(piece)
            yield StreamEvent(delta=piece, checkpoint_id=self._checkpoint_id)
        yield StreamEvent(done=True, finish_reason="stop", completion_tokens=len(text.split()),
                          checkpoint_id=self._checkpoint_id)

    def sample(self, messages: Sequence[ChatMessage], sampling: SamplingSettings, n: int = 1,
               logprobs: bool = False) -> list[Sample]:
        self.calls.append(("sample", list(messages), sampling))
        out = []
        for _ in range(n):
            text = self._next(messages, sampling)
            out.append(Sample(text=text, finish_reason="stop", num_tokens=len(text.split()),
                              token_logprobs=[-0.1] * len(text.split()) if logprobs else None))
        return out

    def sample_many(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings,
                    n: int = 1, logprobs: bool = False) -> list[list[Sample]]:
        return [self.sample(conv, sampling, n=n, logprobs=logprobs) for conv in conversations]

    def health(self) -> Health:
        return Health(ok=True, backend=self.backend, checkpoint_id=self._checkpoint_id)
