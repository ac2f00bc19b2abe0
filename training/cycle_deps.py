"""The cycle's side-effecting collaborators: engines, the critic, the trainer, the base model, perplexity.

``run_cycle`` takes them as one ``CycleDeps``, so tests swap in scripted engines and a stand-in trainer;
``default_deps`` wires the real ones (vLLM or transformers, the settings' critic, subprocess training).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from mathchat.settings import Settings
from serving.critique.types import Critic
from serving.engine import PolicyEngine
from training.config import CycleConfig, TrainJob
from training.evaluate import general_text_perplexity

EngineOpener = Callable[[str, str, bool], AbstractContextManager[PolicyEngine]]
"""(model_path, checkpoint_id, is_live) -> context manager yielding an engine serving that checkpoint."""


@dataclass
class CycleDeps:
    """The cycle's side-effecting collaborators (tests swap in small ones)."""

    open_engine: EngineOpener
    make_critic: Callable[[PolicyEngine], Critic]
    train: Callable[[TrainJob, Path, Path], Path]
    """(job, job_file, log_file) -> checkpoint folder."""
    base_model_path: Callable[[], str]
    perplexity: Callable[[str], float]
    """General-text perplexity of a checkpoint folder (language-ability check)."""
    close: Callable[[], None] = lambda: None
    """Release what the engines hold (the cycle's vLLM server) once the cycle ends."""
    time_verifier_pass: Callable[[str, list[tuple[str, str]]], tuple[float, float] | None] = lambda path, pairs: None
    """(policy folder, answers) -> (seconds of one answer's whole verifier pass, probe-only share), timed here for
    the time budget's projection of the verifier stage (None: not timed, the stage runs unprojected)."""


def cycle_verifier(settings: Settings):  # noqa: ANN201 - a serving Verifier or None
    """The verifier the app's critic uses now (``serving.critique.critic.verifier_in_use``: configured, live in the
    database, else shipped); lazy: no weights are read until a critique without a reference needs them."""
    from feedback.db import make_engine
    from serving.critique.critic import verifier_in_use

    db = make_engine(settings.database.url)
    try:
        return verifier_in_use(settings, settings.critique, db)
    finally:
        db.dispose()


def default_deps(settings: Settings, cfg: CycleConfig) -> CycleDeps:
    """Real engines (vLLM or transformers), the settings' critic (``build_critic``), and subprocess training."""
    from serving.critique.critic import build_critic
    from serving.model_cache import resolve_model_path
    from training.engines import CycleServer, checkpoint_engine, resolve_backend
    from training.launch import run_train_job

    server = CycleServer(settings) if resolve_backend(cfg.engine_backend) == "vllm" else None

    def open_engine(path: str, checkpoint_id: str, is_live: bool):
        url = cfg.live_url if is_live else None
        if server is not None and not url:
            return server.checkpoint(path, checkpoint_id)
        return checkpoint_engine(settings, path, checkpoint_id, backend=cfg.engine_backend, url=url)

    verifier = None  # found once: every stage's critic shares it, so its weights are read once a cycle

    def make_critic(engine: PolicyEngine) -> Critic:
        # the verifier matters only where no reference is checked: the logged students' questions, whose RFT
        # answers and DPO pairs the critic picks without one
        nonlocal verifier
        verifier = verifier or cycle_verifier(settings)
        return build_critic(settings, policy=engine, judge=engine if cfg.critic_use_judge else None,
                            verifier=verifier, use_judge=cfg.critic_use_judge)

    def train(job: TrainJob, job_path: Path, log_path: Path) -> Path:
        return run_train_job(job, job_path, log_path, launcher=cfg.launcher, accelerate_config=cfg.accelerate_config)

    def time_verifier_pass(path: str, pairs: list[tuple[str, str]]) -> tuple[float, float] | None:
        from training.verifier import time_verifier_pass as timed

        return timed(path, pairs, cfg.verifier) if pairs else None

    return CycleDeps(open_engine=open_engine, make_critic=make_critic, train=train,
                     base_model_path=lambda: resolve_model_path(settings), perplexity=general_text_perplexity,
                     close=server.close if server is not None else lambda: None,
                     time_verifier_pass=time_verifier_pass)
