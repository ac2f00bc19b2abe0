"""Students are answered while the supervised vLLM server starts: an in-process transformers engine bridges.

On a 2-core CPU a vLLM server takes about a minute to become ready even with a warm compile cache (three
processes import torch, then the model is traced); the same model loads into transformers in seconds. So
until the router has its first endpoint, calls go to a transformers engine of the same checkpoint (answers
are recorded under the same checkpoint id); once vLLM is ready every new call goes there, calls already
running on the bridge finish on it, and the bridge's weights are dropped. The bridge is for CPU machines
(``VLLMSettings.bridge``): on a GPU machine a second copy of a large model would compete for its memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence

from serving.engine import ChatMessage, Health, PolicyEngine, Sample, StreamEvent
from serving.router import EndpointRouter
from mathchat.sampling import SamplingSettings

log = logging.getLogger(__name__)


class BridgedEngine:
    """``primary`` (vLLM behind ``router``) once it is ready; until then the engine ``load_bridge`` makes."""

    def __init__(self, primary: PolicyEngine, router: EndpointRouter, load_bridge: Callable[[], PolicyEngine],
                 start: bool = True) -> None:
        self.primary = primary
        self._router = router
        self._load_bridge = load_bridge
        self._bridge: PolicyEngine | None = None
        self._state = "loading"  # loading -> bridging -> done (vLLM took over), or failed
        self._lock = threading.Lock()
        self._loader = threading.Thread(target=self._load, name="startup-bridge", daemon=True)
        if start:
            self._loader.start()

    def _load(self) -> None:
        if self._router.has_endpoint():  # vLLM was quicker: nothing to bridge
            self._finish("done")
            return
        try:
            bridge = self._load_bridge()
        except Exception:  # the bridge is a courtesy: vLLM still comes up without it
            log.exception("the startup bridge could not load; students wait for vLLM")
            self._finish("failed")
            return
        with self._lock:
            if self._state == "loading":
                self._bridge, self._state = bridge, "bridging"
                log.info("transformers answers while vLLM starts")

    def _finish(self, state: str) -> bool:
        """Leave loading/bridging for ``state``; True when this call did (a failed or done bridge stays so)."""
        with self._lock:
            self._bridge = None  # calls still running hold their own reference; then the weights go
            if self._state not in ("loading", "bridging"):
                return False
            self._state = state
            return True

    @property
    def state(self) -> str:
        return self._state

    def wait_loaded(self, timeout_s: float | None = None) -> None:
        """Block until the bridge has loaded, failed or become unneeded (tests, benches)."""
        self._loader.join(timeout_s)

    def _pick(self) -> PolicyEngine:
        if self._router.has_endpoint():
            if self._state in ("loading", "bridging") and self._finish("done"):
                log.info("vLLM is ready: the startup bridge is released")
            return self.primary
        bridge = self._bridge
        return bridge if bridge is not None else self.primary  # the primary says "starting"

    @property
    def backend(self) -> str:  # type: ignore[override]
        return self._pick().backend

    @property
    def checkpoint_id(self) -> str:
        return self._pick().checkpoint_id

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> Iterator[StreamEvent]:
        return self._pick().stream_chat(messages, sampling)

    def sample(self, messages: Sequence[ChatMessage], sampling: SamplingSettings, n: int = 1,
               logprobs: bool = False, cancel: threading.Event | None = None) -> list[Sample]:
        return self._pick().sample(messages, sampling, n=n, logprobs=logprobs, cancel=cancel)

    def sample_many(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings,
                    n: int = 1, logprobs: bool = False) -> list[list[Sample]]:
        return self._pick().sample_many(conversations, sampling, n=n, logprobs=logprobs)

    def health(self) -> Health:
        engine = self._pick()
        if engine is self.primary:
            return engine.health()
        health = engine.health()
        return Health(ok=health.ok, backend=health.backend, checkpoint_id=health.checkpoint_id,
                      detail="vLLM is starting; transformers answers until it is ready",
                      extra={**health.extra, "bridge": True})

    def close(self) -> None:
        self._finish("done")
        close = getattr(self.primary, "close", None)
        if close:
            close()


def bridge_wanted(setting: str, gpu: bool) -> bool:
    """Whether the app bridges vLLM's start-up (``VLLMSettings.bridge``).

    >>> bridge_wanted("auto", gpu=False), bridge_wanted("auto", gpu=True), bridge_wanted("on", gpu=True)
    (True, False, True)
    >>> bridge_wanted("off", gpu=False)
    False
    """
    return setting == "on" or (setting == "auto" and not gpu)
