"""`mathchat eval`: evaluate a checkpoint (and optionally a baseline) on a JSONL file, write the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mathchat.settings import Settings
from training.config import EvalSettings
from training.eval_report import write_reports
from training.evaluate import evaluate, general_text_perplexity
from training.gate import gate
from training.pool import load_eval_questions
from training.samples import DEFAULT_SYSTEM_PROMPT
from training.trainer_common import read_metadata


def resolve_checkpoint(settings: Settings, ref: str) -> tuple[str, str]:
    """(path, id) of a checkpoint given as a folder, a registered id, ``live`` or ``base``."""
    path = Path(ref)
    if path.is_dir():
        return str(path), read_metadata(path).get("checkpoint_id") or path.name
    from serving.model_cache import base_checkpoint_id, resolve_model_path

    if ref == "base":
        return resolve_model_path(settings), base_checkpoint_id(settings)
    from feedback.db import make_engine, session_scope
    from feedback.registry import get_checkpoint, get_live_checkpoint

    db = make_engine(settings.database.url)
    try:
        with session_scope(db) as session:
            row = get_live_checkpoint(session=session) if ref == "live" else get_checkpoint(session=session,
                                                                                              checkpoint_id=ref)
            if row is None:
                if ref == "live":
                    return resolve_model_path(settings), base_checkpoint_id(settings)
                raise ValueError(f"{ref!r} is neither a folder nor a registered checkpoint id")
            return row.path, row.id
    finally:
        db.dispose()


def _evaluate_one(settings: Settings, ref: str, questions, cfg: EvalSettings, *, backend: str, url: str | None,
                  system: str | None, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    from serving.critique.critic import build_critic
    from training.engines import checkpoint_engine

    path, checkpoint_id = resolve_checkpoint(settings, ref)
    with checkpoint_engine(settings, path, checkpoint_id, backend=backend, url=url) as engine:
        critic = build_critic(settings, policy=engine, judge=None, verifier=None, use_judge=False) \
            if cfg.use_critic else None
        return evaluate(engine, questions, system=system, max_tokens=cfg.max_tokens, concurrency=cfg.concurrency,
                        critic=critic, model_path=path, perplexity=general_text_perplexity(path),
                        baseline=baseline, pass_mark=settings.critique.pass_threshold)


def run_best_of_n(settings: Settings, checkpoint: str, data: Path, n: int, *, verifier_path: Path | None = None,
                  out_prefix: Path | None = None, limit: int | None = None, backend: str = "auto",
                  url: str | None = None, cfg: EvalSettings = EvalSettings(),
                  system: str | None = DEFAULT_SYSTEM_PROMPT, with_greedy: bool = False) -> dict[str, Any]:
    """Best-of-``n`` on ``data``: the verifier (``verifier_path``, else the configured or live one) picks one of n
    samples drawn as the cycle samples (``CycleConfig.sampling``), against greedy and majority vote; writes
    ``<prefix>.best_of_<n>.json``; returns the report (``training/best_of_n.py``)."""
    import json

    from feedback.db import make_engine
    from serving.critique.critic import resolve_verifier
    from training.best_of_n import evaluate_best_of_n
    from training.config import CycleConfig
    from training.engines import checkpoint_engine

    questions = load_eval_questions(data)[:limit] if limit else load_eval_questions(data)
    critique = settings.critique.model_copy(update={"verifier_path": verifier_path or settings.critique.verifier_path,
                                                    "use_verifier": True})
    db = make_engine(settings.database.url)
    try:
        verifier = resolve_verifier(critique, db)
    finally:
        db.dispose()
    if verifier is None:
        raise ValueError("no verifier: pass one (--verifier FOLDER) or make one live (a cycle's train_verifier stage)")
    path, checkpoint_id = resolve_checkpoint(settings, checkpoint)
    with checkpoint_engine(settings, path, checkpoint_id, backend=backend, url=url) as engine:
        report = evaluate_best_of_n(engine, verifier, questions, n=n, sampling=CycleConfig().sampling, system=system,
                                    max_tokens=cfg.max_tokens, concurrency=cfg.concurrency, with_greedy=with_greedy)
    report.update(checkpoint_id=checkpoint_id, data=str(data))
    prefix = out_prefix or Path(settings.training.workdir) / "evals" / f"{checkpoint_id}-{Path(data).stem}"
    out = Path(f"{prefix}.best_of_{n}{'_with_greedy' if with_greedy else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    report["path"] = str(out)
    return report


def run_eval(settings: Settings, checkpoint: str, data: Path, *, baseline: str | None = None,
             out_prefix: Path | None = None, limit: int | None = None, backend: str = "auto",
             url: str | None = None, cfg: EvalSettings = EvalSettings(),
             system: str | None = DEFAULT_SYSTEM_PROMPT) -> dict[str, Any]:
    """Evaluate ``checkpoint`` (and ``baseline``) on ``data``; writes JSON/markdown/PNG; returns the reports."""
    questions = load_eval_questions(data)[:limit] if limit else load_eval_questions(data)
    base_report = None
    if baseline:
        base_report = _evaluate_one(settings, baseline, questions, cfg, backend=backend, url=None, system=system)
    report = _evaluate_one(settings, checkpoint, questions, cfg, backend=backend, url=url, system=system,
                           baseline=base_report)
    report["data"] = str(data)
    reports = [report]
    if base_report is not None:
        report["gate"] = gate(report, base_report, cfg.margin, cfg.ppl_tolerance,
                              require_significant=cfg.require_significant).to_dict()
        reports = [base_report, report]
    prefix = out_prefix or Path(settings.training.workdir) / "evals" / f"{report['checkpoint_id']}-{Path(data).stem}"
    paths = write_reports(reports, prefix)
    return {"reports": reports, "paths": {k: str(v) for k, v in paths.items()}}
