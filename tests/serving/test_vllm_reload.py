"""In-place weight reload: the training cycle's one server swaps checkpoints instead of starting a server each."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathchat.settings import Settings, VLLMSettings
from mathchat.sampling import SamplingSettings
from serving.vllm_supervisor import VLLMProcess, VLLMSupervisor, build_vllm_env
from serving.local_app import free_port
from serving.local_app import isolated_settings as make_settings

PROMPTS = ["What is 7 + 5?", "Solve for x: x + 3 = 10", "Name a prime number bigger than 10.", "What is 10% of 80?"]
GREEDY = SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=40, seed=0)


def test_dev_mode_only_when_weight_reload_is_on() -> None:
    assert "VLLM_SERVER_DEV_MODE" not in build_vllm_env(Settings())
    on = Settings(vllm=VLLMSettings(weight_reload=True))
    assert build_vllm_env(on)["VLLM_SERVER_DEV_MODE"] == "1"


def test_weight_reload_is_refused_on_a_public_address(tmp_path: Path) -> None:
    exposed = Settings(vllm=VLLMSettings(weight_reload=True, host="0.0.0.0", logs_dir=tmp_path))
    with pytest.raises(ValueError, match="loopback"):
        VLLMProcess(exposed, "/m", 9000, "c")
    VLLMProcess(Settings(vllm=VLLMSettings(host="0.0.0.0", logs_dir=tmp_path)), "/m", 9000, "c")  # no dev mode: fine


def test_reload_needs_a_ready_server(tmp_path: Path) -> None:
    supervisor = VLLMSupervisor(make_settings(tmp_path, vllm=VLLMSettings(weight_reload=True, logs_dir=tmp_path)))
    with pytest.raises(RuntimeError, match="no ready server"):
        supervisor.reload("/m", "c")


def _perturbed_copy(model_path: str, out: Path) -> str:
    """The model with small seeded noise on every matrix: still fluent, but its greedy answers change."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                noise = torch.randn(p.shape, generator=gen) * float(p.float().std()) * 0.05
                p.add_(noise.to(p.dtype))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_path).save_pretrained(out)
    return str(out)


def _answers(engine) -> list[str]:
    return [engine.sample([{"role": "user", "content": p}], GREEDY)[0].text for p in PROMPTS]


@pytest.mark.vllm
def test_reloaded_weights_change_the_answers_and_restore_them_exactly(tmp_path: Path, default_model_path: str) -> None:
    """Swap in other weights, then the original ones back: the answers change, then match the fresh start
    to the letter (the prefix cache, which holds KV of the old weights, is dropped with each swap).

    The comparison stays on one server: a second server whose prefix cache already holds other requests'
    blocks computes partial prefills and can differ in the last bits, which flips near-tied greedy tokens.
    """
    from serving.vllm_engine import OpenAIEngine

    perturbed = _perturbed_copy(default_model_path, tmp_path / "perturbed")
    settings = make_settings(tmp_path, vllm=VLLMSettings(port=free_port(), enforce_eager=True, weight_reload=True,
                                                         logs_dir=tmp_path / "logs", startup_timeout_s=900))
    supervisor = VLLMSupervisor(settings)
    supervisor.start(default_model_path, "base", wait=True)
    engine = OpenAIEngine(supervisor.router)
    try:
        fresh = _answers(engine)
        supervisor.reload(perturbed, "perturbed")
        assert engine.checkpoint_id == "perturbed" and supervisor.active.model_path == perturbed
        changed = _answers(engine)
        assert changed != fresh, "the perturbed weights should change some greedy answer"
        supervisor.reload(default_model_path, "base-again")
        assert _answers(engine) == fresh, "reloading the original weights must reproduce the fresh start exactly"
        supervisor.reload(perturbed, "perturbed-again")
        assert _answers(engine) == changed
        with supervisor.router.lease():
            with pytest.raises(RuntimeError, match="in flight"):
                supervisor.reload(default_model_path, "base")
        assert engine.checkpoint_id == "perturbed-again"
    finally:
        engine.close()
        supervisor.shutdown()
