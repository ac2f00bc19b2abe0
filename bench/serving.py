"""Serving throughput, side by side on the same model in one run: vLLM vs transformers `generate`.

Workloads: 16 concurrent requests of exactly 128 output tokens, and a single request; plus time to
first token for single chats through the PolicyEngine interface. A single stream reads every weight once
per token, so it is also set against the memory-bandwidth bound: the read bandwidth measured here, on as
many threads as the vLLM server computes on, over the bytes of the weights in the served dtype. The last
line printed is one JSON object.

    python bench/serving.py [--model DIR] [--concurrency 16] [--tokens 128] [--ttft-runs 20] [--vllm-url URL]

``--vllm-url`` measures a vLLM server that is already running (its own mode and dtype) instead of starting one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.summary import percentile  # noqa: E402
from mathchat.hardware import local_dtype  # noqa: E402
from mathchat.settings import Settings, VLLMSettings, load_settings  # noqa: E402
from serving.model_cache import resolve_model_path  # noqa: E402
from mathchat.sampling import SamplingSettings  # noqa: E402

PROMPTS = [f"Explain step by step how to compute {a} + {b}." for a, b in zip(range(11, 99, 5), range(23, 99, 4))]


def bench_vllm(settings: Settings, model: str, concurrency: int, tokens: int, ttft_runs: int,
               url: str | None = None) -> dict:
    """Throughput and time to first token of a vLLM server started here, or of the one at ``url``."""
    from serving.vllm_engine import OpenAIEngine
    from serving.vllm_supervisor import VLLMSupervisor

    supervisor = None
    startup = None
    if url:
        engine = OpenAIEngine.for_url(url)
    else:
        supervisor = VLLMSupervisor(settings)
        t0 = time.monotonic()
        supervisor.start(model, "bench", wait=True)
        startup = time.monotonic() - t0
        engine = OpenAIEngine(supervisor.router)
    endpoint = engine.router.current()
    client = httpx.Client(timeout=600)

    def one(prompt: str) -> int:
        r = client.post(f"{endpoint.base_url}/v1/chat/completions", json={
            "model": endpoint.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
            "temperature": 0.0, "ignore_eos": True})
        r.raise_for_status()
        return r.json()["usage"]["completion_tokens"]

    try:
        one(PROMPTS[0])  # warm-up
        t = time.monotonic()
        n_single = one(PROMPTS[1])
        single = n_single / (time.monotonic() - t)
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(concurrency)]
        t = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            total = sum(pool.map(one, prompts))
        concurrent = total / (time.monotonic() - t)
        ttfts = []
        for i in range(ttft_runs):
            t = time.monotonic()
            for event in engine.stream_chat([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                                            SamplingSettings(temperature=0.0, max_tokens=32)):
                if event.delta:
                    ttfts.append(time.monotonic() - t)
                    break
    finally:
        client.close()
        engine.close()
        if supervisor is not None:
            supervisor.shutdown()
    return {"startup_s": startup, "single_tok_s": single, "concurrent_tok_s": concurrent,
            "ttft_p50_s": statistics.median(ttfts), "ttft_p95_s": percentile(ttfts, 0.95)}


def bench_hf(model: str, concurrency: int, tokens: int, threads: int, dtype: str) -> dict:
    """transformers ``generate`` throughput; ``dtype`` is a setting (``auto`` or a torch dtype name)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model)
    tok.padding_side = "left"
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, local_dtype(dtype))).eval()

    def run(prompts: list[str]) -> float:
        texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                         add_generation_prompt=True) for p in prompts]
        batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        t = time.monotonic()
        with torch.inference_mode():
            out = lm.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                              pad_token_id=tok.pad_token_id)
        elapsed = time.monotonic() - t
        return (out.shape[1] - batch["input_ids"].shape[1]) * len(prompts) / elapsed

    run(PROMPTS[:1])  # warm-up
    single = run(PROMPTS[1:2])
    concurrent = run([PROMPTS[i % len(PROMPTS)] for i in range(concurrency)])
    return {"single_tok_s": single, "concurrent_tok_s": concurrent, "threads": threads}


def weight_bytes(model: str, dtype: str) -> int:
    """Bytes a decode step reads for the weights: every parameter of the safetensors files, in ``dtype``."""
    import torch
    from safetensors import safe_open

    numel = 0
    for path in sorted(Path(model).glob("*.safetensors")):
        with safe_open(str(path), "pt") as f:
            for name in f.keys():
                numel += math.prod(f.get_slice(name).get_shape())
    return numel * torch.empty((), dtype=getattr(torch, dtype)).element_size()


def read_bandwidth_gbs(threads: int, mib: int = 512, repeats: int = 5) -> float:
    """Best-of-``repeats`` read bandwidth (GB/s) of summing a ``mib`` MiB float32 tensor on ``threads`` threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = torch.ones(mib * 2**20 // 4, dtype=torch.float32)
        data.sum()  # pages touched, kernels loaded
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            data.sum()
            best = min(best, time.perf_counter() - t)
        return data.numel() * 4 / best / 1e9
    finally:
        torch.set_num_threads(before)


def vllm_compute_cores() -> int:
    """Cores a supervised CPU server computes on with vLLM's ``auto`` binding: all allowed but the last."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="HF folder; default: the embedded SmolLM2-135M-Instruct")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--ttft-runs", type=int, default=20)
    parser.add_argument("--hf-threads", type=int, default=1, help="torch threads for transformers (DESIGN.md: 1)")
    parser.add_argument("--eager", action="store_true", help="vLLM --enforce-eager (faster start, slower decode)")
    parser.add_argument("--dtype", default=None,
                        help="weights dtype for both backends (default: settings, auto; see mathchat/hardware.py)")
    parser.add_argument("--vllm-url", default=None,
                        help="measure this running vLLM server instead of starting one (--eager is then ignored, "
                             "--dtype applies to transformers only)")
    args = parser.parse_args(argv)

    settings = load_settings()
    if args.dtype:
        settings = settings.model_copy(update={"model": settings.model.model_copy(update={"dtype": args.dtype})})
    model = args.model or resolve_model_path(settings)
    with tempfile.TemporaryDirectory() as tmp:
        vsettings = settings.model_copy(update={"vllm": VLLMSettings(
            port=settings.vllm.port + 40, enforce_eager=args.eager, logs_dir=Path(tmp))})
        vllm = bench_vllm(vsettings, model, args.concurrency, args.tokens, args.ttft_runs, url=args.vllm_url)
    print(f"vLLM: {json.dumps(vllm)}", flush=True)
    hf = bench_hf(model, args.concurrency, args.tokens, args.hf_threads, settings.model.dtype)
    print(f"transformers: {json.dumps(hf)}", flush=True)
    dtype = local_dtype(settings.model.dtype)
    threads = vllm_compute_cores()
    bandwidth = read_bandwidth_gbs(threads)
    bound = bandwidth * 1e9 / weight_bytes(model, dtype)
    result = {
        "vllm_tok_s": round(vllm["concurrent_tok_s"], 1),
        "hf_tok_s": round(hf["concurrent_tok_s"], 1),
        "ratio": round(vllm["concurrent_tok_s"] / hf["concurrent_tok_s"], 2),
        "ttft_p50_s": round(vllm["ttft_p50_s"], 3),
        "ttft_p95_s": round(vllm["ttft_p95_s"], 3),
        "vllm_single_tok_s": round(vllm["single_tok_s"], 1),
        "hf_single_tok_s": round(hf["single_tok_s"], 1),
        "vllm_startup_s": round(vllm["startup_s"], 1) if vllm["startup_s"] is not None else None,
        "concurrency": args.concurrency,
        "tokens": args.tokens,
        "vllm_mode": "external" if args.vllm_url else "eager" if args.eager else "compiled",
        "dtype": dtype,
        "bandwidth_gbs": round(bandwidth, 1),
        "bandwidth_threads": threads,
        "bound_tok_s": round(bound, 1),
        "vllm_single_vs_bound": round(vllm["single_tok_s"] / bound, 2),
        "hf_single_vs_bound": round(hf["single_tok_s"] / bound, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
