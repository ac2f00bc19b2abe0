"""The supervisor: command line, restart after a crash, and a failed answer when the server dies mid-stream."""

from __future__ import annotations

import time

import pytest

from mathchat.settings import Settings
from serving.engine import EngineError
from serving.sampling import SamplingSettings
from serving.vllm_supervisor import build_vllm_command, build_vllm_env
from tests.conftest import wait_ready


def test_command_uses_module_launcher_and_served_name() -> None:
    cmd = build_vllm_command(Settings(), "/models/x", 9001, "ckpt-1")
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--served-model-name") + 1] == "ckpt-1"
    assert "--enforce-eager" not in cmd


def test_gpu_command_sets_memory_and_parallelism() -> None:
    cmd = build_vllm_command(Settings(), "/m", 9001, "c", gpu=True)
    assert "--tensor-parallel-size" in cmd and "--gpu-memory-utilization" in cmd


def test_cpu_env_is_offline_with_kv_cache_size() -> None:
    env = build_vllm_env(Settings())
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_CPU_KVCACHE_SPACE"] == "2"


@pytest.mark.vllm
def test_killed_server_is_restarted_and_answers_again(vllm_supervisor, vllm_engine) -> None:
    wait_ready(vllm_supervisor)
    old_pid = vllm_supervisor.active.proc.pid
    restarts = vllm_supervisor.restarts
    stream = vllm_engine.stream_chat([{"role": "user", "content": "Count from 1 to 200, one per line."}],
                                     SamplingSettings(temperature=0.0, max_tokens=400))
    got = next(stream)
    assert got.delta
    vllm_supervisor.active.kill()
    with pytest.raises(EngineError):
        for _ in stream:
            pass
    deadline = time.monotonic() + 30
    while vllm_supervisor.restarts == restarts and time.monotonic() < deadline:
        time.sleep(0.5)
    assert vllm_supervisor.restarts == restarts + 1
    wait_ready(vllm_supervisor)
    assert vllm_supervisor.active.proc.pid != old_pid
    [sample] = vllm_engine.sample([{"role": "user", "content": "Say hi."}], SamplingSettings(temperature=0.0,
                                                                                           max_tokens=4))
    assert sample.text
    assert "start:" in vllm_supervisor.active.log_path.read_text(), "server logs are kept"
