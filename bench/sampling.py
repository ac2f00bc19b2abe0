"""The cycle's sampling workload on vLLM, side by side in one run: compiled vs eager, and by concurrency.

A cycle starts a short-lived vLLM server for each checkpoint it samples or evaluates (live, RFT, DPO),
so both the server's start-up time and its throughput on *this* workload decide the cycle's wall time:
seed questions with the cycle's system prompt, n=k samples per request at T=0.8, answers that stop at
end of turn. For each mode the server is started, timed, warmed up, then the same questions are sampled
at each concurrency (sequences in flight). The last line printed is one JSON object.

    python bench/sampling.py [--questions 64] [--k 4] [--concurrency 16,32,64] [--modes compiled,eager]
                             [--max-tokens 200] [--vllm-url URL]

``--vllm-url`` samples from a server that is already running (reported as mode ``external``, no start-up time)
instead of starting one per mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mathchat.settings import VLLMSettings, load_settings  # noqa: E402
from serving.model_cache import resolve_model_path  # noqa: E402
from serving.vllm_engine import OpenAIEngine  # noqa: E402
from serving.vllm_supervisor import VLLMSupervisor  # noqa: E402
from training.config import CycleConfig  # noqa: E402
from training.sampler import sample_questions  # noqa: E402
from training.seed_pool import generate_seed_questions  # noqa: E402


def bench_engine(engine: OpenAIEngine, mode: str, questions: list[str], cfg: CycleConfig, k: int,
                 concurrencies: list[int]) -> dict:
    """Warm up, then sample every question n=k times at each concurrency; throughput per concurrency."""
    out: dict = {}
    sample_questions(engine, questions[:8], cfg.sampling, system=cfg.system_prompt, n=k, concurrency=16,
                     desc="warm-up")
    for c in concurrencies:
        t = time.monotonic()
        drawn = sample_questions(engine, questions, cfg.sampling.with_(seed=c), system=cfg.system_prompt, n=k,
                                 concurrency=c, desc=f"c={c}")
        elapsed = time.monotonic() - t
        # An n>1 reply carries one usage total, not per-sample token counts: report samples and characters.
        chars = sum(len(s.text) for group in drawn for s in group)
        samples = sum(len(group) for group in drawn)
        out[f"c{c}"] = {"samples_s": round(samples / elapsed, 3), "chars_s": round(chars / elapsed, 1),
                        "mean_chars": round(chars / max(samples, 1), 1), "seconds": round(elapsed, 1)}
        print(f"{mode} c={c}: {out[f'c{c}']}", flush=True)
    return out


def bench_mode(model: str, eager: bool, questions: list[str], cfg: CycleConfig, k: int,
               concurrencies: list[int], port: int) -> dict:
    """Start a server in this mode (timed), run ``bench_engine`` on it, stop it."""
    base = load_settings()
    settings = base.model_copy(update={"vllm": VLLMSettings(**{**base.vllm.model_dump(), "port": port,
                                                                "enforce_eager": eager})})
    supervisor = VLLMSupervisor(settings)
    t0 = time.monotonic()
    supervisor.start(model, "bench", wait=True)
    startup = round(time.monotonic() - t0, 1)
    engine = OpenAIEngine(supervisor.router, timeout_s=600)
    try:
        return {"startup_s": startup,
                **bench_engine(engine, "eager" if eager else "compiled", questions, cfg, k, concurrencies)}
    finally:
        engine.close()
        supervisor.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--concurrency", default="16,32,64")
    parser.add_argument("--modes", default="compiled,eager")
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--max-tokens", type=int, default=None, help="answer budget (default: the cycle's)")
    parser.add_argument("--vllm-url", default=None, help="sample from this running server (--modes is then ignored)")
    args = parser.parse_args(argv)

    cfg = CycleConfig()
    if args.max_tokens:
        cfg = cfg.model_copy(update={"sampling": cfg.sampling.with_(max_tokens=args.max_tokens)})
    questions = [q.question for q in generate_seed_questions(args.questions, seed=123)]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    result: dict = {"questions": len(questions), "k": args.k, "max_tokens": cfg.sampling.max_tokens}
    if args.vllm_url:
        engine = OpenAIEngine.for_url(args.vllm_url, timeout_s=600)
        try:
            result["external"] = {"startup_s": None,
                                  **bench_engine(engine, "external", questions, cfg, args.k, concurrencies)}
        finally:
            engine.close()
    else:
        model = resolve_model_path(load_settings())
        for mode in args.modes.split(","):
            result[mode] = bench_mode(model, mode == "eager", questions, cfg, args.k, concurrencies, args.port)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
