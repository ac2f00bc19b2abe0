"""Running a checkpoint folder for the cycle: a vLLM server of our own, an existing URL, or transformers.

The cycle samples and evaluates several checkpoints in turn (live, RFT, DPO); each gets an engine for
one block and is closed afterwards so training never competes with an idle server for memory.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mathchat.settings import Settings
from serving.engine import EngineError, PolicyEngine

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

        own = settings.model_copy(deep=True)
        own.server.backend = "vllm"
        own.vllm.url = None
        own.vllm.port = settings.vllm.port + CYCLE_PORT_OFFSET
        runtime = start_policy(own, model_path, checkpoint_id, wait=True)
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
