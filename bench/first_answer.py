"""How long a student waits after ``make run`` starts: `python app.py` launched as `make run` launches it, then
one student signs up and asks, retrying the moment the page would let them, until an answer arrives.

Two starts side by side, each from a fresh state (database, logs): ``cold`` (an empty vLLM compile cache, as on
the first start of a new install) and ``warm`` (the cache the cold start left, as on every later start).
Reported per start: when the web page first answered, when the first answer finished (target: <= 60 s warm),
whether the startup bridge wrote it (it finished before vLLM served), when vLLM took over, and how often a
vLLM server failed to load its compile cache. Ends with one JSON line.

    python bench/first_answer.py [--starts cold,warm] [--cache-root DIR] [--env KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.app_client import ask, signup  # noqa: E402
from mathchat.hardware import cpu_flags  # noqa: E402
from serving.local_app import free_port  # noqa: E402


def app_env(state: Path, port: int, vllm_port: int, cache_root: Path, overrides: dict[str, str]) -> dict[str, str]:
    """The app's environment: private state and ports, the given vLLM compile cache, no scheduler.

    >>> env = app_env(Path("/s"), 7000, 8000, Path("/c"), {"MATHCHAT_X": "1"})
    >>> env["MATHCHAT_STATE_DIR"], env["MATHCHAT_SERVER__PORT"], env["VLLM_CACHE_ROOT"], env["MATHCHAT_X"]
    ('/s', '7000', '/c', '1')
    """
    env = dict(os.environ)
    env.update({"MATHCHAT_STATE_DIR": str(state), "MATHCHAT_SERVER__PORT": str(port),
                "MATHCHAT_VLLM__PORT": str(vllm_port), "VLLM_CACHE_ROOT": str(cache_root),
                "MATHCHAT_TRAINING__SCHEDULER_IN_APP": "false", **overrides})
    return env


def first_answer(url: str, question: str, t0: float, timeout_s: float, max_tokens: int) -> dict[str, object]:
    """Sign up as soon as the page answers, then ask until an answer arrives; times are from ``t0``."""
    out: dict[str, object] = {"page_s": None, "first_answer_s": None, "first_token_s": None, "attempts": 0}
    client = httpx.Client(base_url=url, timeout=300)
    while time.monotonic() - t0 < timeout_s:
        try:
            if client.get("/login").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    else:
        return out
    out["page_s"] = round(time.monotonic() - t0, 1)
    why = signup(client, "first-student")
    if why:
        raise SystemExit(f"signup failed: {why}")
    while time.monotonic() - t0 < timeout_s:
        out["attempts"] = int(out["attempts"]) + 1
        sent = time.monotonic()
        answer = ask(client, question, temperature=0.0, max_tokens=max_tokens)
        if answer.ok:
            out["first_answer_s"] = round(time.monotonic() - t0, 1)
            out["first_token_s"] = round(sent - t0 + (answer.first_token_s or 0.0), 1)
            out["answer_chars"] = len(answer.text)
            return out
        time.sleep(1.0)  # the page shows "the model server is starting"; a student tries again
    return out


def vllm_ready_s(url: str, t0: float, timeout_s: float) -> float | None:
    """Seconds from ``t0`` until the app reports vLLM serving."""
    while time.monotonic() - t0 < timeout_s:
        try:
            body = httpx.get(f"{url}/healthz", timeout=10).json()
            if body.get("ok") and body.get("backend") == "vllm":
                return round(time.monotonic() - t0, 1)
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    return None


def compile_cache_load_failures(logs: Path) -> int:
    """How often a vLLM server under ``logs`` could not load its compile cache and compiled again."""
    return sum(path.read_text(errors="replace").count("Compiling model again due to a load failure")
               for path in logs.glob("vllm-*.log"))


def one_start(name: str, cache_root: Path, tmp: Path, question: str, timeout_s: float, max_tokens: int,
              overrides: dict[str, str]) -> dict[str, object]:
    state = tmp / name
    port, vllm_port = free_port(), free_port()
    log = (tmp / f"{name}.log").open("w")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=app_env(state, port, vllm_port, cache_root, overrides), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        result = {"start": name, **first_answer(url, question, t0, timeout_s, max_tokens)}
        result["vllm_ready_s"] = ready = vllm_ready_s(url, t0, timeout_s)
        done = result["first_answer_s"]
        result["bridged"] = done is not None and (ready is None or done < ready)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    result["compile_cache_load_failures"] = compile_cache_load_failures(state / "logs")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", default="cold,warm", help="comma list of cold and warm")
    parser.add_argument("--question", default="A shop sells pencils at 3 for $1.20. How much do 10 pencils cost?")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per start")
    parser.add_argument("--cache-root", type=Path, default=None,
                        help="vLLM compile cache to use (default: a new empty one, so the first start is cold)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the app, e.g. "
                        "MATHCHAT_VLLM__BRIDGE=off to measure without the transformers bridge")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.env)
    results = []
    with tempfile.TemporaryDirectory(prefix="first-answer-") as tmp_name:
        tmp = Path(tmp_name)
        cache_root = args.cache_root or tmp / "vllm-cache"  # new: the cold start fills it, the warm start reads it
        for name in [s.strip() for s in args.starts.split(",") if s.strip()]:
            if name not in ("cold", "warm"):
                raise SystemExit(f"unknown start {name!r}: use cold or warm")
            result = one_start(name, cache_root, tmp, args.question, args.timeout, args.max_tokens, overrides)
            print(f"{name}: {result}", file=sys.stderr)
            results.append(result)
    summary = {"bench": "first_answer", "cpu_flags": " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx")) or f == "avx2")), "env": overrides,
               **{f"{r['start']}_{k}": v for r in results for k, v in r.items() if k != "start"}}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
