"""The checkpoint registry, promotions, training runs and datasets.

Same contract as ``feedback.store``: keyword-only ``session``, never commits. Checkpoints form three
families, ``policy`` (base/rft/dpo), ``critic`` (a judge LLM) and ``verifier`` (P(correct) without a
reference, ``training/verifier.py``); each family has at most one ``live`` checkpoint,
and ``record_promotion`` moves that flag and writes the audit row in the caller's one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from feedback.db import serialize_on
from feedback.errors import InvalidInput
from feedback.models import (
    CHECKPOINT_KINDS,
    CHECKPOINT_STATUSES,
    DATASET_KINDS,
    RUN_TRIGGERS,
    Checkpoint,
    Dataset,
    Promotion,
    TrainingRun,
    utcnow,
)

FAMILIES = {"policy": ("base", "rft", "dpo"), "critic": ("critic",), "verifier": ("verifier",)}
"""Which checkpoint kinds share one live slot."""


def family_of(kind: str) -> str:
    """The live-slot family of a checkpoint kind.

    >>> family_of("dpo"), family_of("critic"), family_of("verifier")
    ('policy', 'critic', 'verifier')
    """
    for family, kinds in FAMILIES.items():
        if kind in kinds:
            return family
    raise InvalidInput(f"Unknown checkpoint kind {kind!r}; choose one of {', '.join(CHECKPOINT_KINDS)}.")


# --- checkpoints -------------------------------------------------------------------------------


def register_checkpoint(
    *,
    session: Session,
    checkpoint_id: str,
    path: str,
    kind: str,
    parent_id: str | None = None,
    status: str = "candidate",
    gate_passed: bool | None = None,
    metrics: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    exist_ok: bool = False,
) -> Checkpoint:
    """Record a checkpoint (a candidate by default). With ``exist_ok`` an existing id is returned unchanged.

    Registering one as ``live`` directly is only allowed when its family has no live checkpoint
    yet (first start with the base model); later changes go through ``record_promotion``.
    """
    existing = session.get(Checkpoint, checkpoint_id)
    if existing is not None:
        if exist_ok:
            return existing
        raise InvalidInput(f"Checkpoint {checkpoint_id!r} is already registered.")
    family = family_of(kind)
    if status not in CHECKPOINT_STATUSES:
        raise InvalidInput(f"Unknown checkpoint status {status!r}.")
    if status == "live" and get_live_checkpoint(session=session, family=family) is not None:
        raise InvalidInput(f"A {family} checkpoint is already live; promote {checkpoint_id!r} instead.")
    checkpoint = Checkpoint(
        id=checkpoint_id, path=path, kind=kind, parent_id=parent_id, status=status, gate_passed=gate_passed,
        metrics=metrics, manifest=manifest, config=config, created_at=utcnow(),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def update_checkpoint(
    *,
    session: Session,
    checkpoint_id: str,
    gate_passed: bool | None = None,
    metrics: dict[str, Any] | None = None,
    status: str | None = None,
) -> Checkpoint:
    """Record a gate verdict / evaluation metrics, or reject a candidate (``status="rejected"``)."""
    checkpoint = _checkpoint(session, checkpoint_id)
    if status is not None:
        if status not in ("candidate", "rejected"):
            raise InvalidInput("Only 'candidate' or 'rejected' can be set directly; use record_promotion for live.")
        if checkpoint.status == "live":
            raise InvalidInput(f"{checkpoint_id!r} is live; roll back before rejecting it.")
        checkpoint.status = status
    if gate_passed is not None:
        checkpoint.gate_passed = gate_passed
    if metrics is not None:
        checkpoint.metrics = {**(checkpoint.metrics or {}), **metrics}
    session.flush()
    return checkpoint


def _checkpoint(session: Session, checkpoint_id: str) -> Checkpoint:
    checkpoint = session.get(Checkpoint, checkpoint_id)
    if checkpoint is None:
        raise InvalidInput(f"No checkpoint {checkpoint_id!r}.")
    return checkpoint


def get_checkpoint(*, session: Session, checkpoint_id: str) -> Checkpoint | None:
    """The checkpoint with this id, or None."""
    return session.get(Checkpoint, checkpoint_id)


def list_checkpoints(
    *, session: Session, kind: str | None = None, status: str | None = None, limit: int = 200
) -> list[Checkpoint]:
    """Checkpoints, newest first, optionally of one kind/status."""
    query = select(Checkpoint).order_by(Checkpoint.created_at.desc(), Checkpoint.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(Checkpoint.kind == kind)
    if status is not None:
        query = query.where(Checkpoint.status == status)
    return list(session.scalars(query))


def get_live_checkpoint(*, session: Session, family: str = "policy") -> Checkpoint | None:
    """The checkpoint serving now in this family (``policy`` or ``critic``), or None."""
    query = select(Checkpoint).where(Checkpoint.status == "live", Checkpoint.kind.in_(FAMILIES[family]))
    return session.scalars(query.order_by(Checkpoint.created_at.desc())).first()


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion changed (the console, the CLI and the cycle's ``auto_promote`` all report this)."""

    action: str
    from_id: str | None
    to_id: str
    override: bool
    automatic: bool = False

    @classmethod
    def of(cls, promotion: Promotion) -> "PromotionResult":
        """From the audit row, so it outlives the transaction."""
        return cls(promotion.action, promotion.from_id, promotion.to_id, promotion.override, promotion.automatic)


def record_promotion(
    *,
    session: Session,
    to_id: str,
    by_user: str,
    action: str = "promote",
    evaluation: dict[str, Any] | None = None,
    override: bool = False,
    automatic: bool = False,
) -> Promotion:
    """Make ``to_id`` live in its family and write the audit row, in the caller's transaction.

    ``promote``: the old live becomes ``retired``; the target must have passed its gate unless
    ``override``. ``rollback``: the old live becomes ``rejected`` and the target (normally
    ``previous_live_checkpoint``) is live again; no gate needed. ``automatic`` marks a promotion the loop made
    without a person (``training.auto_promote``); it can never override a gate, only a person can. Promotions run
    one at a time (``serialize_on``: an advisory lock on PostgreSQL), and a partial unique index keeps one live
    checkpoint per family whatever happens.
    """
    if action not in ("promote", "rollback"):
        raise InvalidInput(f"Unknown action {action!r}; 'promote' or 'rollback'.")
    if automatic and override:
        raise InvalidInput("An automatic promotion never overrides the gate; only an operator can.")
    serialize_on(session, "promotion")  # a racing promotion waits here, then sees this one's live checkpoint
    target = session.scalar(select(Checkpoint).where(Checkpoint.id == to_id).with_for_update())
    if target is None:
        raise InvalidInput(f"No checkpoint {to_id!r}.")
    if target.status == "live":
        raise InvalidInput(f"{to_id!r} is already live.")
    if action == "promote" and target.status == "rejected" and not override:
        raise InvalidInput(f"{to_id!r} was rejected; promote it only with override.")
    if action == "promote" and not target.gate_passed and not override:
        raise InvalidInput(f"{to_id!r} has not passed its evaluation gate; promote it only with override.")
    family = family_of(target.kind)
    live = session.scalars(
        select(Checkpoint)
        .where(Checkpoint.status == "live", Checkpoint.kind.in_(FAMILIES[family]))
        .with_for_update()
    ).all()
    for old in live:
        old.status = "rejected" if action == "rollback" else "retired"
    session.flush()  # the old live row leaves its slot before the target takes it (one live per family, indexed)
    target.status = "live"
    promotion = Promotion(
        action=action,
        from_id=live[0].id if live else None,
        to_id=to_id,
        by_user=by_user,
        at=utcnow(),
        evaluation=evaluation,
        override=override,
        automatic=automatic,
    )
    session.add(promotion)
    session.flush()
    return promotion


def previous_live_checkpoint(*, session: Session, family: str = "policy") -> Checkpoint | None:
    """The checkpoint a rollback should return to: the latest earlier live one that is still ``retired``."""
    live = get_live_checkpoint(session=session, family=family)
    query = (
        select(Checkpoint)
        .join(Promotion, Promotion.from_id == Checkpoint.id)
        .where(Checkpoint.status == "retired", Checkpoint.kind.in_(FAMILIES[family]))
        .order_by(Promotion.id.desc())
    )
    for checkpoint in session.scalars(query):
        if live is None or checkpoint.id != live.id:
            return checkpoint
    return None


def ensure_live_checkpoint(*, session: Session, base_id: str, base_path: str, by_user: str,
                           config: dict[str, Any] | None = None) -> Checkpoint:
    """The live policy checkpoint; when there is none, the base model is made live: registered (``kind="base"``,
    gate passed, ``config`` as given) on a fresh database, or, when it was registered before but is no longer
    live (everything rolled back), restored with an automatic ``rollback`` promotion by ``by_user``.

    The one place both the app's first start and the training cycle go through, so they name and register the
    base alike (``serving.model_cache.base_checkpoint_id``).
    """
    live = get_live_checkpoint(session=session, family="policy")
    if live is not None:
        return live
    existing = session.get(Checkpoint, base_id)
    if existing is not None:
        record_promotion(session=session, to_id=base_id, by_user=by_user, action="rollback", automatic=True)
        return existing
    return register_checkpoint(session=session, checkpoint_id=base_id, path=base_path, kind="base", status="live",
                               gate_passed=True, config=config)


def list_promotions(*, session: Session, limit: int = 100) -> list[Promotion]:
    """The promotion audit trail, newest first."""
    return list(session.scalars(select(Promotion).order_by(Promotion.id.desc()).limit(limit)))


# --- training runs -----------------------------------------------------------------------------


def create_run(
    *,
    session: Session,
    trigger: str = "manual",
    config: dict[str, Any] | None = None,
    log_path: str | None = None,
) -> TrainingRun:
    """A queued training run."""
    if trigger not in RUN_TRIGGERS:
        raise InvalidInput(f"Unknown trigger {trigger!r}; choose one of {', '.join(RUN_TRIGGERS)}.")
    run = TrainingRun(status="queued", trigger=trigger, config=config, log="", log_path=log_path, progress={},
                      created_at=utcnow())
    session.add(run)
    session.flush()
    return run


def get_run(*, session: Session, run_id: int) -> TrainingRun | None:
    """The run with this id, or None."""
    return session.get(TrainingRun, run_id)


def _run(session: Session, run_id: int) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise InvalidInput(f"No training run {run_id}.")
    return run


def update_run_stage(
    *, session: Session, run_id: int, stage: str, progress: dict[str, Any] | None = None
) -> TrainingRun:
    """Enter (or report progress within) ``stage``; the first call marks the run ``running``."""
    run = _run(session, run_id)
    if run.status in ("succeeded", "failed"):
        raise InvalidInput(f"Run {run_id} already finished ({run.status}).")
    if run.status == "queued":
        run.status = "running"
        run.started_at = utcnow()
    run.stage = stage
    stages = dict(run.progress or {})
    stages[stage] = {**stages.get(stage, {}), **(progress or {})}
    run.progress = stages  # a new dict, so the JSON change is detected
    session.flush()
    return run


def append_run_log(*, session: Session, run_id: int, text: str) -> None:
    """Append to the run's log column in SQL (no read-modify-write race with other appenders)."""
    session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id)
        .values(log=func.coalesce(TrainingRun.log, "") + text)
        .execution_options(synchronize_session=False)
    )


def finish_run(
    *,
    session: Session,
    run_id: int,
    status: str,
    error: str | None = None,
    candidate_checkpoint_id: str | None = None,
) -> TrainingRun:
    """Close a run as ``succeeded`` or ``failed`` (with the error), naming the candidate it produced."""
    if status not in ("succeeded", "failed"):
        raise InvalidInput(f"A run finishes as 'succeeded' or 'failed', not {status!r}.")
    run = _run(session, run_id)
    session.refresh(run)  # the log may have been appended in SQL
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    if candidate_checkpoint_id is not None:
        run.candidate_checkpoint_id = candidate_checkpoint_id
    session.flush()
    return run


def get_active_run(*, session: Session) -> TrainingRun | None:
    """The queued or running run (newest), or None: the loop runs one cycle at a time."""
    query = select(TrainingRun).where(TrainingRun.status.in_(("queued", "running"))).order_by(TrainingRun.id.desc())
    return session.scalars(query).first()


def list_runs(*, session: Session, limit: int = 50) -> list[TrainingRun]:
    """Runs, newest first."""
    return list(session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)))


# --- datasets ----------------------------------------------------------------------------------


def record_dataset(
    *,
    session: Session,
    kind: str,
    path: str,
    count: int,
    content_hash: str,
    manifest: dict[str, Any] | None = None,
    run_id: int | None = None,
) -> Dataset:
    """Record a data file a run or export wrote."""
    if kind not in DATASET_KINDS:
        raise InvalidInput(f"Unknown dataset kind {kind!r}; choose one of {', '.join(DATASET_KINDS)}.")
    dataset = Dataset(kind=kind, path=path, count=count, content_hash=content_hash, manifest=manifest,
                      run_id=run_id, created_at=utcnow())
    session.add(dataset)
    session.flush()
    return dataset


def list_datasets(*, session: Session, run_id: int | None = None, kind: str | None = None) -> list[Dataset]:
    """Datasets, newest first, optionally of one run/kind."""
    query = select(Dataset).order_by(Dataset.id.desc())
    if run_id is not None:
        query = query.where(Dataset.run_id == run_id)
    if kind is not None:
        query = query.where(Dataset.kind == kind)
    return list(session.scalars(query))
