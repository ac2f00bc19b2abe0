"""Critique latency against answer latency on the default stack, in one run.

By default (``--path app``) through the app's own HTTP API on a supervised vLLM server (or ``--engine-url``):
two apps side by side, samples drawn while the answer streams (the default with a GPU) and after it (on CPU)
(``bench/critique_app.py``); target: the badge <= 3 s after the answer, overhead <= 50%.

``--path engine``: for ~10 seed questions, stream an answer (timed), then critique it WITHOUT a reference the way the app
does (self-consistency k from settings in one n=k request, judge on, judge skipped when the symbolic
parts decide). The engine is an OpenAI-compatible server (--engine-url, e.g. the vLLM policy server) or,
without one, the in-process HFEngine on the default model (torch threads = 1). Target: critique adds at
most 50% to the answer's latency. The last line printed is one JSON object.

    python bench/critique.py [--path app|engine] [--engine-url http://127.0.0.1:8011] [--questions 10] [--k 4]
                             [--no-judge] [--force-judge] [--overlap]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mathchat.settings import load_settings  # noqa: E402
from serving.critique.answers import answers_equivalent, extract_answer  # noqa: E402
from serving.critique.critic import MathCritic  # noqa: E402
from serving.critique.labelled_set import make_labelled_set  # noqa: E402
from serving.engine import ChatMessage, collect_stream  # noqa: E402
from mathchat.sampling import SamplingSettings  # noqa: E402


class TimedEngine:
    """Wraps a PolicyEngine and adds up the seconds spent in each kind of call (samples vs judge)."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self.engine = engine
        self.backend = engine.backend
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @property
    def checkpoint_id(self) -> str:
        return self.engine.checkpoint_id

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings):  # noqa: ANN201
        return self.engine.stream_chat(messages, sampling)

    def sample(self, messages, sampling, n=1, logprobs=False, cancel=None):  # noqa: ANN001, ANN201
        kind = "judge" if sampling.temperature == 0.0 or "[AI answer start]" in messages[-1]["content"] \
            or "[AI 回答开始]" in messages[-1]["content"] else "samples"
        t0 = time.perf_counter()
        try:
            return self.engine.sample(messages, sampling, n=n, logprobs=logprobs, cancel=cancel)
        finally:
            self.seconds[kind] += time.perf_counter() - t0
            self.calls[kind] += 1

    def health(self):  # noqa: ANN201
        return self.engine.health()


def build_engine(engine_url: str | None, num_threads: int):  # noqa: ANN201
    if engine_url:
        from serving.vllm_engine import OpenAIEngine

        return OpenAIEngine.for_url(engine_url)
    import torch

    torch.set_num_threads(num_threads)
    from serving.hf_engine import HFEngine
    from serving.model_cache import resolve_model_path

    return HFEngine(resolve_model_path(load_settings()), num_threads=num_threads)


def run_app_path(args: argparse.Namespace) -> dict:
    """The app-path figures (bench/critique_app.py), on ``--engine-url`` or a vLLM server supervised here."""
    from bench.critique_app import run
    from serving.model_cache import resolve_model_path
    from serving.vllm_supervisor import VLLMSupervisor

    settings = load_settings()
    questions = [row["question"] for row in make_labelled_set(args.questions, seed=args.seed)]
    max_tokens = args.answer_max_tokens or settings.sampling.max_tokens
    options = {"k": args.k, "use_judge": not args.no_judge, "log": lambda row: print(json.dumps(row), flush=True)}
    if args.engine_url:
        return {"engine": args.engine_url, **run(questions, args.engine_url, max_tokens, **options)}
    supervisor = VLLMSupervisor(settings)
    t0 = time.monotonic()
    supervisor.start(resolve_model_path(settings), "bench", wait=True)
    try:
        started = time.monotonic() - t0
        url = supervisor.router.current().base_url
        return {"engine": "supervised vLLM", "vllm_startup_s": round(started, 1),
                **run(questions, url, max_tokens, **options)}
    finally:
        supervisor.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("app", "engine"), default="app",
                        help="app: the app's HTTP API on vLLM; engine: the critic called in process")
    parser.add_argument("--engine-url", default=None,
                        help="OpenAI-compatible policy server (app path: else a supervised vLLM; engine path: else "
                             "the in-process HFEngine)")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--k", type=int, default=None, help="self-consistency samples (default: settings)")
    parser.add_argument("--no-judge", action="store_true")
    parser.add_argument("--force-judge", action="store_true",
                        help="call the judge even where the calibration gives it no weight (to measure its cost)")
    parser.add_argument("--overlap", action="store_true",
                        help="draw the self-consistency samples while the answer streams (what a vLLM-backed app can do)")
    parser.add_argument("--answer-max-tokens", type=int, default=None, help="default: settings.sampling.max_tokens")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the in-process engine")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.path == "app":
        print(json.dumps(run_app_path(args)))
        return
    settings = load_settings()
    critique_settings = settings.critique.model_copy(update={
        **({"self_consistency_k": args.k} if args.k is not None else {}),
        **({"use_judge": False} if args.no_judge else {}),
        **({"judge_when_uncalibrated": True} if args.force_judge else {})})
    answer_sampling = settings.sampling.with_(seed=args.seed, **(
        {"max_tokens": args.answer_max_tokens} if args.answer_max_tokens else {}))
    engine = TimedEngine(build_engine(args.engine_url, args.threads))
    critic = MathCritic(critique_settings, policy=engine, judge=engine, sampling=answer_sampling)
    seeds = make_labelled_set(args.questions, seed=args.seed)

    per_question = []
    pool = ThreadPoolExecutor(max_workers=1)
    for seed_row in seeds:
        question = seed_row["question"]
        alone_s = None
        if args.overlap:  # the baseline: the same answer with nothing running beside it
            t0 = time.perf_counter()
            collect_stream(engine.stream_chat([{"role": "user", "content": question}], answer_sampling))
            alone_s = time.perf_counter() - t0
        before = dict(engine.seconds)
        t0 = time.perf_counter()
        # overlap: the samples depend on the question only, so they are drawn while the answer streams
        prefetched = pool.submit(critic.draw_samples, question) if args.overlap else None
        answer, last = collect_stream(engine.stream_chat([{"role": "user", "content": question}], answer_sampling))
        answer_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = critic.critique(question, answer, samples=prefetched.result() if prefetched else None)
        critique_s = time.perf_counter() - t0
        per_question.append({
            "answer_alone_s": round(alone_s, 3) if alone_s is not None else None,
            "answer_s": round(answer_s, 3), "answer_tokens": last.completion_tokens, "critique_s": round(critique_s, 3),
            "samples_s": round(engine.seconds["samples"] - before.get("samples", 0.0), 3),
            "judge_s": round(engine.seconds["judge"] - before.get("judge", 0.0), 3),
            "judged": "judge" in result.parts, "score": result.score, "band": result.band,
            # not used by the critique (it ran without reference): how its verdict compares with the truth
            "correct": answers_equivalent(extract_answer(answer), seed_row["reference"]), "passed": result.passed})
        print(json.dumps(per_question[-1]), flush=True)
    pool.shutdown()

    answer_total = sum(q["answer_s"] for q in per_question)
    critique_total = sum(q["critique_s"] for q in per_question)
    summary = {
        "engine": args.engine_url or f"HFEngine(threads={args.threads})",
        "questions": len(per_question),
        "k": critique_settings.self_consistency_k,
        "judge": critique_settings.use_judge,
        "force_judge": args.force_judge,
        "overlap": args.overlap,
        "answer_max_tokens": answer_sampling.max_tokens,
        "samples_max_tokens": critique_settings.self_consistency_max_tokens,
        "judge_calls": sum(q["judged"] for q in per_question),
        "answer_s": round(answer_total / len(per_question), 3),
        "critique_s": round(critique_total / len(per_question), 3),
        "samples_s": round(statistics.mean(q["samples_s"] for q in per_question), 3),
        "judge_s": round(statistics.mean(q["judge_s"] for q in per_question), 3),
        "overhead": round(critique_total / answer_total, 3) if answer_total else None,
        "answers_correct": sum(q["correct"] for q in per_question),
        "verdict_agrees": sum(q["passed"] == q["correct"] for q in per_question),
    }
    if args.overlap:
        # what the student waits for in all (answer slowed by the samples beside it, then the critique)
        # against the answer alone
        alone_total = sum(q["answer_alone_s"] for q in per_question)
        summary["answer_alone_s"] = round(alone_total / len(per_question), 3)
        summary["overhead"] = round((answer_total + critique_total - alone_total) / alone_total, 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
