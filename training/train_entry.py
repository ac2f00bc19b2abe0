"""The training subprocess: ``python -m training.train_entry sft|dpo|verifier --config JOB.json``.

The same command runs under ``accelerate launch [--config_file training/accelerate/...] -m
training.train_entry ...`` on several GPUs or nodes. The cycle starts it as a subprocess so the
serving process never stalls; it prints the checkpoint folder as its last line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.config import TrainJob
from mathchat.jsonl import read_jsonl


def run_job(job: TrainJob) -> Path:
    """Read the job's rows and train."""
    rows = read_jsonl(job.data_path)
    if job.kind == "sft":
        from training.sft import train_sft

        return train_sft(rows, job.model_path, job.output_dir, job.sft, metadata=job.metadata)
    if job.kind == "verifier":
        from training.verifier import train_verifier

        held_out = read_jsonl(job.held_out_path) if job.held_out_path else []
        return train_verifier(rows, job.model_path, job.output_dir, job.verifier, held_out=held_out,
                              current_path=job.current_verifier, metadata=job.metadata)
    from training.dpo import train_dpo

    return train_dpo(rows, job.model_path, job.output_dir, job.dpo, metadata=job.metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_entry", description=__doc__)
    parser.add_argument("kind", choices=["sft", "dpo", "verifier"])
    parser.add_argument("--config", required=True, type=Path, help="TrainJob JSON file")
    args = parser.parse_args(argv)
    job = TrainJob.model_validate_json(args.config.read_text(encoding="utf-8"))
    if job.kind != args.kind:
        parser.error(f"job file is a {job.kind} job, not {args.kind}")
    out = run_job(job)
    print(out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
