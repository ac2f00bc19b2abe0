"""Seconds per optimizer step for the cycle's SFT and DPO jobs, side by side in one run: dtype x torch threads.

Each variant runs the real training subprocess (``python -m training.train_entry``, as the cycle does)
for a few steps on rows shaped like the cycle's (seed questions with ~100-token answers), and reads the
trainer's own runtime from the checkpoint metadata, so process start-up and model loading are reported
apart from the steps. The last line printed is one JSON object.

    python bench/train_step.py [--steps 3] [--variants bf16:1,fp32:1,bf16:2,fp32:2] [--kinds sft,dpo]
                               [--batch-size N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mathchat.settings import load_settings  # noqa: E402
from serving.model_cache import resolve_model_path  # noqa: E402
from training.config import DPOTrainSettings, SFTTrainSettings, TrainJob  # noqa: E402
from training.launch import run_train_job  # noqa: E402
from mathchat.jsonl import write_jsonl  # noqa: E402
from training.samples import DEFAULT_SYSTEM_PROMPT  # noqa: E402
from training.seed_pool import generate_seed_questions  # noqa: E402
from training.trainer_common import read_metadata  # noqa: E402


def answer(question: str, value: str, wrong: bool = False) -> str:
    """A ~100-token worked answer (the length of a typical passing sample)."""
    steps = " ".join(f"Step {i}: we look at the numbers in the question again and keep the working tidy." for i in range(4))
    final = f"{value}1" if wrong else value
    return f"Let's solve it step by step. {question} {steps} So the result is {final}. The answer is {final}."


def rows(n: int) -> tuple[list[dict], list[dict]]:
    qs = generate_seed_questions(n, seed=7)
    prompt = lambda q: [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": q.question}]  # noqa: E731
    sft = [{"prompt": prompt(q), "completion": [{"role": "assistant", "content": answer(q.question, q.reference)}]}
           for q in qs]
    dpo = [{"prompt": prompt(q), "chosen": [{"role": "assistant", "content": answer(q.question, q.reference)}],
            "rejected": [{"role": "assistant", "content": answer(q.question, q.reference, wrong=True)}]} for q in qs]
    return sft, dpo


def run_variant(kind: str, dtype: str, threads: int, steps: int, model: str, work: Path, data: Path,
                batch_size: int | None = None) -> dict:
    common = dict(max_steps=steps, bf16=dtype == "bf16", num_threads=threads,
                  **({"batch_size": batch_size} if batch_size else {}))
    job = TrainJob(kind=kind, data_path=data, model_path=model, output_dir=work / f"{kind}-{dtype}-{threads}",
                   sft=SFTTrainSettings(**common), dpo=DPOTrainSettings(**common))
    t = time.monotonic()
    out = run_train_job(job, work / f"job-{kind}-{dtype}-{threads}.json", work / f"{kind}-{dtype}-{threads}.log")
    wall = time.monotonic() - t
    train_s = read_metadata(out)["train_seconds"]
    result = {"s_per_step": round(train_s / steps, 2), "train_s": train_s, "wall_s": round(wall, 1),
              "batch": job.sft.batch_size if kind == "sft" else job.dpo.batch_size}
    print(f"{kind} {dtype} threads={threads}: {result}", flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--variants", default="bf16:1,fp32:1,bf16:2,fp32:2")
    parser.add_argument("--kinds", default="sft,dpo")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per step (default: the cycle's)")
    args = parser.parse_args(argv)

    model = resolve_model_path(load_settings())
    sft, dpo = rows(64)
    out: dict = {"steps": args.steps}
    with tempfile.TemporaryDirectory(prefix="mathchat-train-bench-") as tmp:
        work = Path(tmp)
        write_jsonl(sft, work / "sft.jsonl")
        write_jsonl(dpo, work / "dpo.jsonl")
        for kind in args.kinds.split(","):
            for variant in args.variants.split(","):
                dtype, threads = variant.split(":")
                out[f"{kind}_{dtype}_t{threads}"] = run_variant(kind, dtype, int(threads), args.steps, model, work,
                                                                work / f"{kind}.jsonl", args.batch_size)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
