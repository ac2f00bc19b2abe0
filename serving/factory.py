"""Builds the policy engine the settings ask for: supervised vLLM, external vLLM, or in-process transformers."""

from __future__ import annotations

from dataclasses import dataclass

from mathchat.hardware import has_cuda
from mathchat.settings import Settings
from serving.engine import PolicyEngine
from serving.external_vllm import endpoint_for, list_served_models
from serving.model_cache import DEFAULT_CHECKPOINT_ID, resolve_model_path
from serving.router import EndpointRouter
from serving.startup_bridge import BridgedEngine, bridge_wanted
from serving.vllm_engine import OpenAIEngine
from serving.vllm_supervisor import VLLMSupervisor


@dataclass
class PolicyRuntime:
    """The engine the app talks to, and the supervisor behind it when we run vLLM ourselves."""

    engine: PolicyEngine
    supervisor: VLLMSupervisor | None = None
    external_url: str | None = None
    """Set when the engine is an external vLLM server (``MATHCHAT_VLLM__URL``): nothing here loads weights."""

    def close(self) -> None:
        if self.supervisor is not None:
            self.supervisor.shutdown()
        close = getattr(self.engine, "close", None)
        if close:
            close()


def build_engine(settings: Settings, model_path: str | None = None, checkpoint_id: str | None = None) -> PolicyEngine:
    """An unsupervised engine: the external vLLM URL if set with the vllm backend, else transformers in process."""
    if settings.server.backend == "vllm" and settings.vllm.url:
        return OpenAIEngine.for_url(settings.vllm.url, checkpoint_id=checkpoint_id,
                                    timeout_s=settings.vllm.request_timeout_s)
    from serving.hf_engine import HFEngine

    path = model_path or resolve_model_path(settings)
    return HFEngine(path, checkpoint_id=checkpoint_id or (DEFAULT_CHECKPOINT_ID if model_path is None else None),
                    dtype=settings.model.dtype)


def start_policy(settings: Settings, model_path: str, checkpoint_id: str, wait: bool = True) -> PolicyRuntime:
    """The app's policy: supervise a local vLLM (default), connect to an external one (its answers are recorded
    under the checkpoint it really serves, see ``serving.external_vllm``), or load transformers. Without
    ``wait``, a supervised server's start-up is bridged where ``VLLMSettings.bridge`` asks (``serving.startup_bridge``)."""
    if settings.server.backend == "vllm" and not settings.vllm.url:
        supervisor = VLLMSupervisor(settings)
        engine: PolicyEngine = OpenAIEngine(supervisor.router, timeout_s=settings.vllm.request_timeout_s)
        supervisor.start(model_path, checkpoint_id, wait=wait)
        if not wait and bridge_wanted(settings.vllm.bridge, gpu=has_cuda()):
            from serving.hf_engine import HFEngine

            engine = BridgedEngine(engine, supervisor.router, lambda: HFEngine(
                model_path, checkpoint_id=checkpoint_id, dtype=settings.model.dtype))
        return PolicyRuntime(engine=engine, supervisor=supervisor)
    if settings.server.backend == "vllm" and settings.vllm.url:
        models = list_served_models(settings.vllm.url)
        endpoint = endpoint_for(settings.vllm.url, models, checkpoint_id, model_path)
        engine = OpenAIEngine(EndpointRouter(endpoint), timeout_s=settings.vllm.request_timeout_s)
        return PolicyRuntime(engine=engine, external_url=settings.vllm.url)
    return PolicyRuntime(engine=build_engine(settings, model_path, checkpoint_id))
