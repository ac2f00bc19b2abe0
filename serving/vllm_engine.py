"""A PolicyEngine over any OpenAI-compatible server: a supervised vLLM, an external vLLM, or a judge endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx

from serving.engine import ChatMessage, EngineError, Health, Sample, SampleCancelled, StreamEvent
from serving.router import Endpoint, EndpointRouter
from mathchat.sampling import SamplingSettings


def discover_model(base_url: str, timeout_s: float = 10.0) -> str:
    """First model id a server lists under /v1/models (for endpoints configured by URL only)."""
    try:
        resp = httpx.get(f"{base_url.rstrip('/')}/v1/models", timeout=timeout_s)
        resp.raise_for_status()
        return resp.json()["data"][0]["id"]
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise EngineError(f"cannot list models at {base_url}: {exc}") from exc


def _sse_chunks(resp: httpx.Response, cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    """The JSON chunks of an OpenAI server-sent-event stream, up to ``[DONE]``; raises ``SampleCancelled`` at the
    first line after ``cancel`` is set."""
    for line in resp.iter_lines():
        if cancel is not None and cancel.is_set():
            raise SampleCancelled("cancelled; the connection is closed, so the server stops generating")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def _samples(choices: Sequence[tuple[str, str | None, list[float] | None]], logprobs: bool,
             completion_tokens: int) -> list[Sample]:
    """Samples from (text, finish reason, token log-probabilities) per choice. Without log-probabilities nothing
    counts a choice's tokens, so a single choice takes the server's usage count."""
    samples = [Sample(text=text, finish_reason=finish, num_tokens=len(lp) if lp is not None else 0, token_logprobs=lp)
               for text, finish, lp in choices]
    if not logprobs and len(samples) == 1:
        samples[0] = replace(samples[0], num_tokens=completion_tokens)
    return samples


def strip_v1(url: str) -> str:
    """Accept base URLs with or without a trailing /v1."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class OpenAIEngine:
    """Chat streaming and n-sampling over HTTP; the router decides which server answers.

    >>> engine = OpenAIEngine.for_url("http://127.0.0.1:9", model="m", checkpoint_id="c")
    >>> engine.checkpoint_id
    'c'
    """

    backend = "vllm"

    def __init__(self, router: EndpointRouter, timeout_s: float = 300.0, max_parallel: int = 16) -> None:
        self.router = router
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0),
                                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        self._max_parallel = max_parallel

    @classmethod
    def for_url(cls, base_url: str, model: str | None = None, checkpoint_id: str | None = None,
                timeout_s: float = 300.0) -> "OpenAIEngine":
        """An engine bound to one fixed server (external vLLM, judge endpoint)."""
        base = strip_v1(base_url)
        name = model or discover_model(base)
        return cls(EndpointRouter(Endpoint(base, name, checkpoint_id or name)), timeout_s=timeout_s)

    @property
    def checkpoint_id(self) -> str:
        try:
            return self.router.current().checkpoint_id
        except LookupError:
            return ""

    def _payload(self, endpoint: Endpoint, messages: Sequence[ChatMessage], sampling: SamplingSettings,
                 **extra: Any) -> dict[str, Any]:
        return {"model": endpoint.model, "messages": list(messages), **sampling.to_openai_kwargs(), **extra}

    @contextmanager
    def _open_stream(self, endpoint: Endpoint, payload: dict[str, Any]) -> Iterator[httpx.Response]:
        """A streamed chat/completions response, its status checked; leaving it early closes the connection."""
        with self._client.stream("POST", f"{endpoint.base_url}/v1/chat/completions", json=payload) as resp:
            if resp.status_code != 200:
                raise EngineError(f"model server answered {resp.status_code}: {resp.read()[:300]!r}")
            yield resp

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> Iterator[StreamEvent]:
        try:
            lease = self.router.lease()
            endpoint = lease.__enter__()
        except LookupError as exc:
            raise EngineError("The model server is starting; please try again in a minute.") from exc
        try:
            payload = self._payload(endpoint, messages, sampling, stream=True,
                                    stream_options={"include_usage": True})
            finish: str | None = None
            usage: dict[str, int] = {}
            try:
                with self._open_stream(endpoint, payload) as resp:
                    for chunk in _sse_chunks(resp):
                        if chunk.get("usage"):
                            usage = chunk["usage"]
                        for choice in chunk.get("choices", []):
                            delta = choice.get("delta", {}).get("content") or ""
                            finish = choice.get("finish_reason") or finish
                            if delta:
                                yield StreamEvent(delta=delta, checkpoint_id=endpoint.checkpoint_id)
            except httpx.HTTPError as exc:
                raise EngineError(f"lost the model server mid-answer ({type(exc).__name__})") from exc
            if finish is None:
                raise EngineError("the model server closed the stream before finishing")
            yield StreamEvent(done=True, finish_reason=finish, prompt_tokens=usage.get("prompt_tokens", 0),
                              completion_tokens=usage.get("completion_tokens", 0),
                              checkpoint_id=endpoint.checkpoint_id)
        finally:
            lease.__exit__(None, None, None)

    def sample(self, messages: Sequence[ChatMessage], sampling: SamplingSettings, n: int = 1,
               logprobs: bool = False, cancel: threading.Event | None = None) -> list[Sample]:
        if n > 1 and sampling.temperature == 0:
            raise ValueError("n > 1 needs temperature > 0 (greedy samples are identical)")
        try:
            with self.router.lease() as endpoint:
                if cancel is not None:
                    return self._sample_streamed(endpoint, messages, sampling, n, logprobs, cancel)
                extra: dict[str, Any] = {"n": n}
                if logprobs:
                    extra["logprobs"] = True
                resp = self._client.post(f"{endpoint.base_url}/v1/chat/completions",
                                         json=self._payload(endpoint, messages, sampling, **extra))
        except LookupError as exc:
            raise EngineError("The model server is starting; please try again in a minute.") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"model server request failed ({type(exc).__name__}: {exc})") from exc
        if resp.status_code != 200:
            raise EngineError(f"model server answered {resp.status_code}: {resp.text[:300]}")
        body = resp.json()
        choices = []
        for choice in sorted(body["choices"], key=lambda c: c["index"]):
            lp = None
            if logprobs and choice.get("logprobs") and choice["logprobs"].get("content") is not None:
                lp = [t["logprob"] for t in choice["logprobs"]["content"]]
            choices.append((choice["message"].get("content") or "", choice.get("finish_reason"), lp))
        return _samples(choices, logprobs, body.get("usage", {}).get("completion_tokens", 0))

    def _sample_streamed(self, endpoint: Endpoint, messages: Sequence[ChatMessage], sampling: SamplingSettings,
                         n: int, logprobs: bool, cancel: threading.Event) -> list[Sample]:
        """``sample`` read as a stream, so a set ``cancel`` is seen at the next token: leaving the stream closes
        the connection, and vLLM aborts a request whose client went away (``with_cancellation``)."""
        if cancel.is_set():
            raise SampleCancelled("cancelled before the request was sent")
        extra: dict[str, Any] = {"n": n, "stream": True, "stream_options": {"include_usage": True}}
        if logprobs:
            extra["logprobs"] = True
        texts: list[list[str]] = [[] for _ in range(n)]
        token_lps: list[list[float]] = [[] for _ in range(n)]
        finishes: list[str | None] = [None] * n
        usage: dict[str, int] = {}
        payload = self._payload(endpoint, messages, sampling, **extra)
        with self._open_stream(endpoint, payload) as resp:
            for chunk in _sse_chunks(resp, cancel):
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices", []):
                    i = choice["index"]
                    texts[i].append(choice.get("delta", {}).get("content") or "")
                    finishes[i] = choice.get("finish_reason") or finishes[i]
                    if logprobs and choice.get("logprobs") and choice["logprobs"].get("content"):
                        token_lps[i].extend(t["logprob"] for t in choice["logprobs"]["content"])
        if any(f is None for f in finishes):
            raise EngineError("the model server closed the stream before finishing")
        return _samples([("".join(texts[i]), finishes[i], token_lps[i] if logprobs else None) for i in range(n)],
                        logprobs, usage.get("completion_tokens", 0))

    def sample_many(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings,
                    n: int = 1, logprobs: bool = False) -> list[list[Sample]]:
        """Sample many conversations concurrently (vLLM batches them server-side)."""
        with ThreadPoolExecutor(max_workers=self._max_parallel) as pool:
            return list(pool.map(lambda conv: self.sample(conv, sampling, n=n, logprobs=logprobs), conversations))

    def health(self) -> Health:
        try:
            endpoint = self.router.current()
        except LookupError:
            return Health(ok=False, backend=self.backend, checkpoint_id="", detail="no server ready")
        try:
            resp = self._client.get(f"{endpoint.base_url}/health", timeout=5.0)
            ok = resp.status_code == 200
            detail = "" if ok else f"/health answered {resp.status_code}"
        except httpx.HTTPError as exc:
            ok, detail = False, f"unreachable: {type(exc).__name__}"
        return Health(ok=ok, backend=self.backend, checkpoint_id=endpoint.checkpoint_id, detail=detail,
                      extra={"base_url": endpoint.base_url, "model": endpoint.model})

    def close(self) -> None:
        self._client.close()
