"""The supervisor: command line, restart after a crash, and a failed answer when the server dies mid-stream."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mathchat.settings import Settings
from serving.vllm_supervisor import build_vllm_command, build_vllm_env, green_cpu_binding, spawn_process


def test_command_uses_module_launcher_and_served_name() -> None:
    cmd = build_vllm_command(Settings(), "/models/x", 9001, "ckpt-1")
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--served-model-name") + 1] == "ckpt-1"
    assert "--enforce-eager" not in cmd


def test_gpu_command_sets_memory_and_parallelism() -> None:
    cmd = build_vllm_command(Settings(), "/m", 9001, "c", gpu=True)
    assert "--tensor-parallel-size" in cmd and "--gpu-memory-utilization" in cmd
    assert "--no-enable-chunked-prefill" not in cmd


def test_cpu_command_prefills_whole_prompts() -> None:
    cmd = build_vllm_command(Settings(), "/m", 9001, "c", gpu=False)
    assert "--no-enable-chunked-prefill" in cmd
    assert int(cmd[cmd.index("--max-num-batched-tokens") + 1]) >= Settings().vllm.max_model_len


def test_cpu_env_is_offline_with_kv_cache_size(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)  # an operator's own binding would win
    env = build_vllm_env(Settings())
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert "VLLM_CPU_OMP_THREADS_BIND" not in env  # blue keeps vLLM's own binding


def test_cpu_servers_use_the_compile_cache_that_reloads(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_USE_AOT_COMPILE", raising=False)
    assert build_vllm_env(Settings())["VLLM_USE_AOT_COMPILE"] == "0"
    assert "VLLM_USE_AOT_COMPILE" not in build_vllm_env(Settings(), gpu=True)
    monkeypatch.setenv("VLLM_USE_AOT_COMPILE", "1")  # an operator's choice wins
    assert build_vllm_env(Settings())["VLLM_USE_AOT_COMPILE"] == "1"


def test_green_server_computes_on_other_cores_than_blue(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    assert green_cpu_binding([0, 1]) == "1"  # vLLM's auto binding computes on core 0 of 2
    assert green_cpu_binding([4, 0, 2, 6]) == "4,6"
    env = build_vllm_env(Settings(), green=True)
    assert env["VLLM_CPU_OMP_THREADS_BIND"] and "VLLM_CPU_OMP_THREADS_BIND" not in build_vllm_env(Settings(), gpu=True,
                                                                                                   green=True)
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0")  # an operator's own binding wins
    assert build_vllm_env(Settings(), green=True)["VLLM_CPU_OMP_THREADS_BIND"] == "0"


def test_cycle_server_may_compute_on_every_core(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    settings = Settings()
    settings.vllm.cpu_cores = "all"
    allowed = sorted(os.sched_getaffinity(0))
    assert build_vllm_env(settings)["VLLM_CPU_OMP_THREADS_BIND"] == ",".join(map(str, allowed))
    assert build_vllm_env(settings, green=True)["VLLM_CPU_OMP_THREADS_BIND"] == green_cpu_binding(allowed)
    settings.vllm.cpu_cores = "0"
    assert build_vllm_env(settings)["VLLM_CPU_OMP_THREADS_BIND"] == "0"
    assert "VLLM_CPU_OMP_THREADS_BIND" not in build_vllm_env(settings, gpu=True)
    from training.engines import own_server_settings

    assert own_server_settings(Settings()).vllm.cpu_cores == "all" and Settings().vllm.cpu_cores == "auto"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """A promotion starts the new server from a web worker thread that is later retired: the server must live on."""
    got: list[subprocess.Popen] = []
    t = threading.Thread(target=lambda: got.append(spawn_process(["sleep", "30"], env=dict(os.environ),
                                                                 log_path=tmp_path / "s.log")))
    t.start()
    t.join()
    time.sleep(1.0)
    try:
        assert got[0].poll() is None, "the child died with the thread that forked it"
        assert "start: sleep 30" in (tmp_path / "s.log").read_text()
    finally:
        got[0].kill()
        got[0].wait()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_when_the_app_process_is_killed(tmp_path: Path) -> None:
    code = ("import os, sys, time; from pathlib import Path; from serving.vllm_supervisor import spawn_process; "
            "p = spawn_process(['sleep', '60'], env=dict(os.environ), log_path=Path(sys.argv[1])); "
            "print(p.pid, flush=True); time.sleep(60)")
    app = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "s.log")], stdout=subprocess.PIPE, text=True,
                           cwd=Path(__file__).resolve().parents[2])
    child = int(app.stdout.readline())
    assert _alive(child)
    app.kill()  # SIGKILL: no cleanup code runs in the app
    app.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "orphaned server survived the app"
