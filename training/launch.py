"""Start a training job in a subprocess: ``python -m training.train_entry`` or ``accelerate launch``.

The serving process (and the cycle's own process) never runs optimizer steps itself, so it never
stalls; the child's output goes to the run's log file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mathchat.hardware import resolve_threads
from training.config import TrainJob
from training.trainer_common import METADATA_FILE

REPO_ROOT = Path(__file__).resolve().parent.parent


class TrainingFailed(RuntimeError):
    """The training subprocess exited non-zero or wrote no checkpoint."""


def build_train_command(kind: str, job_path: Path, launcher: str = "python",
                        accelerate_config: Path | None = None) -> list[str]:
    """The command line for one job.

    >>> build_train_command("sft", Path("job.json"))[1:4]
    ['-m', 'training.train_entry', 'sft']
    >>> build_train_command("dpo", Path("j.json"), "accelerate", Path("a.yaml"))[1:6]
    ['-m', 'accelerate.commands.launch', '--config_file', 'a.yaml', '-m']
    """
    entry = ["-m", "training.train_entry", kind, "--config", str(job_path)]
    if launcher == "accelerate":
        config = ["--config_file", str(accelerate_config)] if accelerate_config else []
        return [sys.executable, "-m", "accelerate.commands.launch", *config, *entry]
    return [sys.executable, *entry]


def train_env(threads: int | str | None) -> dict[str, str]:
    """Child environment: offline hub, pinned threads, no tokenizer fork warnings."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    count = resolve_threads(threads)
    if count:
        env.update(OMP_NUM_THREADS=str(count), MKL_NUM_THREADS=str(count))
    return env


def tail(path: Path, chars: int = 4000) -> str:
    """The end of a log file (for error messages)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-chars:]


def run_train_job(job: TrainJob, job_path: Path, log_path: Path, *, launcher: str = "python",
                  accelerate_config: Path | None = None) -> Path:
    """Write the job file, run the training subprocess to completion, return the checkpoint folder."""
    job_path.parent.mkdir(parents=True, exist_ok=True)
    job_path.write_text(job.model_dump_json(indent=2), encoding="utf-8")
    settings = {"sft": job.sft, "dpo": job.dpo, "verifier": job.verifier}[job.kind]
    cmd = build_train_command(job.kind, job_path, launcher, accelerate_config)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                              env=train_env(settings.num_threads), check=False)
    if proc.returncode != 0:
        raise TrainingFailed(f"{job.kind} training exited with {proc.returncode}:\n{tail(log_path)}")
    if not (job.output_dir / METADATA_FILE).is_file():
        raise TrainingFailed(f"{job.kind} training wrote no checkpoint at {job.output_dir}")
    return job.output_dir
