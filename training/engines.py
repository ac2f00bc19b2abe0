"""Running a checkpoint folder for the cycle: a vLLM server of our own, an existing URL, or transformers.

The cycle samples and evaluates several checkpoints in turn (live, RFT, RFT round 2, DPO). With vLLM one
private server serves them all: it starts once, on the first checkpoint, and each later checkpoint's
weights are swapped into it in place (0.3-0.6 s measured) instead of starting a server per checkpoint
(70-160 s for a compiled start on 2 CPU cores). It stays up, idle, while the trainer runs. ``checkpoint_engine`` is the
one-shot form (one checkpoint, one block) that ``mathchat eval`` uses.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mathchat.settings import Settings
from serving.engine import EngineError, PolicyEngine

if TYPE_CHECKING:
    from serving.factory import PolicyRuntime

log = logging.getLogger(__name__)

CYCLE_PORT_OFFSET = 20
"""Cycle-owned vLLM servers use settings.vllm.port + this (the app's blue/green pair uses port and port+1)."""


def resolve_backend(backend: str) -> str:
    """``auto`` becomes vllm when the vllm package is importable, else transformers."""
    if backend != "auto":
        return backend
    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def wait_healthy(engine: PolicyEngine, timeout_s: float, poll_s: float = 2.0) -> None:
    """Block until the engine reports healthy; a server that keeps crashing raises instead of looping."""
    deadline = time.monotonic() + timeout_s
    while True:
        health = engine.health()
        if health.ok:
            return
        if time.monotonic() > deadline:
            raise EngineError(f"{health.backend} engine not healthy after {timeout_s:.0f} s: {health.detail}")
        time.sleep(poll_s)


def own_server_settings(settings: Settings, weight_reload: bool = False) -> Settings:
    """A copy of the settings for a server the cycle starts itself, on its own port (never the app's)."""
    own = settings.model_copy(deep=True)
    own.server.backend = "vllm"
    own.vllm.url = None
    own.vllm.port = settings.vllm.port + CYCLE_PORT_OFFSET
    own.vllm.weight_reload = weight_reload
    own.vllm.cpu_cores = "all"  # nothing else computes while the cycle waits on its server
    return own


@contextmanager
def checkpoint_engine(settings: Settings, model_path: str, checkpoint_id: str, *, backend: str = "auto",
                      url: str | None = None) -> Iterator[PolicyEngine]:
    """An engine serving ``model_path`` for the duration of the block.

    ``url`` (a server already serving this checkpoint) wins; otherwise vLLM is started on a port of its
    own and stopped afterwards, or transformers loads the folder in this process.
    """
    if url:
        from serving.vllm_engine import OpenAIEngine

        engine = OpenAIEngine.for_url(url, checkpoint_id=checkpoint_id, timeout_s=settings.vllm.request_timeout_s)
        try:
            yield engine
        finally:
            engine.close()
        return
    if resolve_backend(backend) == "vllm":
        from serving.factory import start_policy

        runtime = start_policy(own_server_settings(settings), model_path, checkpoint_id, wait=True)
        try:
            wait_healthy(runtime.engine, settings.vllm.startup_timeout_s)
            yield runtime.engine
        finally:
            runtime.close()
        return
    from serving.hf_engine import HFEngine

    engine = HFEngine(model_path, checkpoint_id=checkpoint_id, dtype=settings.model.dtype)
    try:
        yield engine
    finally:
        del engine


class CycleServer:
    """One vLLM server for a whole cycle; ``serve(path, id)`` points it at a checkpoint.

    The first call starts the server (dev mode, loopback only: see ``VLLMSettings.weight_reload``);
    later calls reload the weights in place. ``reloads`` keeps each swap's seconds (also logged).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = own_server_settings(settings, weight_reload=True)
        self.runtime: PolicyRuntime | None = None
        self.model_path: str | None = None
        self.reloads: list[float] = []

    def serve(self, model_path: str, checkpoint_id: str) -> PolicyEngine:
        """The engine, now serving ``model_path`` under ``checkpoint_id``."""
        from serving.factory import start_policy

        if self.runtime is None:
            self.runtime = start_policy(self.settings, model_path, checkpoint_id, wait=True)
            wait_healthy(self.runtime.engine, self.settings.vllm.startup_timeout_s)
        elif model_path != self.model_path or self.runtime.engine.checkpoint_id != checkpoint_id:
            assert self.runtime.supervisor is not None
            self.reloads.append(round(self.runtime.supervisor.reload(model_path, checkpoint_id), 2))
            log.info("cycle server now serves %s (weights swapped in %.2f s)", checkpoint_id, self.reloads[-1])
        self.model_path = model_path
        return self.runtime.engine

    @contextmanager
    def checkpoint(self, model_path: str, checkpoint_id: str) -> Iterator[PolicyEngine]:
        """``serve`` as a block (the server stays up afterwards, for the next checkpoint)."""
        yield self.serve(model_path, checkpoint_id)

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None
