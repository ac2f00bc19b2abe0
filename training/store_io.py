"""What the cycle reads from and writes to the feedback store (all through feedback.registry / feedback.reads)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.models import Checkpoint, Critique, TrainingRun
from feedback.reads import AnswerRecord, current_corrections, load_lineage, questions_for_training, rated_answers
from mathchat.settings import PASS_THRESHOLD
from training.adapt import PreviousRun
from training.pool import question_key
from training.round_stop import sft_seconds_per_row
from training.samples import ScoredSample


def load_logged_questions(*, session: Session, limit: int) -> list[tuple[str, str | None]]:
    """The ``limit`` most recent distinct student questions as (text, user id)."""
    if limit <= 0:
        return []
    questions = questions_for_training(session=session)
    return [(q.text, str(q.user_id)) for q in questions[-limit:]]


def load_corrections(*, session: Session) -> list[tuple[str, str, str]]:
    """Students' current corrections as (question text, user id, value), oldest change first
    (``training.corrections.agreed_references`` decides which become references)."""
    return [(c.question, str(c.user_id), c.correction) for c in current_corrections(session=session)]


def load_rated_samples(*, session: Session, system: str | None, limit: int = 5000,
                       pass_mark: int = PASS_THRESHOLD) -> list[ScoredSample]:
    """Students' rated answers as ScoredSamples (thumbs as ``rating``; reference verdict where the critic had one)."""
    records = []
    for record in rated_answers(session=session, rated_only=True):
        records.append(record)
        if len(records) >= limit:
            break
    return samples_from_records(records, reference_verdicts(session, [r.message_id for r in records], pass_mark),
                                system=system)


def samples_from_records(records: Iterable[AnswerRecord], verdicts: Mapping[int, bool], *,
                         system: str | None) -> list[ScoredSample]:
    """Stored answers as ScoredSamples for the DPO builder (pure), with the confidence their badge showed (a
    thumbs against a confident badge is overruled: ``training.thumbs.ThumbsRule``).

    The question id is the pool's id for the question's text, so answers to the same question (and the
    policy's samples of it) group together; ``verdicts`` maps message id -> reference check passed.
    """
    return [
        ScoredSample(question_id=f"user-{question_key(r.question)}", question=r.question, answer=r.answer,
                     score=r.score, verified=verdicts.get(r.message_id),
                     rating=None if r.liked is None else (1 if r.liked else -1), user_id=str(r.user_id),
                     system=system, sample_id=f"message-{r.message_id}", confidence=r.confidence)
        for r in records
    ]


def reference_verdicts(session: Session, message_ids: Sequence[int], pass_mark: int = PASS_THRESHOLD) -> dict[int, bool]:
    """message id -> whether its reference check passed (scored >= ``pass_mark``), for critiques that checked a
    reference."""
    out: dict[int, bool] = {}
    for start in range(0, len(message_ids), 500):
        chunk = list(message_ids[start:start + 500])
        query = select(Critique.message_id, Critique.answer_score).where(
            Critique.message_id.in_(chunk), Critique.has_reference.is_(True), Critique.answer_score.is_not(None))
        for message_id, answer_score in session.execute(query):
            out[message_id] = answer_score >= pass_mark
    return out


VERIFIER_DEFERRED = "verifier_deferred"
"""The run's progress key saying its verifier stage was deferred (``training/round_stop.py``), with the reason."""


def load_previous_run(*, session: Session, before: int | None = None) -> PreviousRun | None:
    """The newest succeeded run (older than run ``before`` if given): its candidate's gate verdict and stage,
    and the adaptation it ran with (``progress["adapt"]``); None before the first."""
    query = select(TrainingRun).where(TrainingRun.status == "succeeded")
    if before is not None:
        query = query.where(TrainingRun.id < before)
    run = session.scalars(query.order_by(TrainingRun.id.desc()).limit(1)).first()
    if run is None:
        return None
    candidate = session.get(Checkpoint, run.candidate_checkpoint_id) if run.candidate_checkpoint_id else None
    metrics = (candidate.metrics or {}) if candidate is not None else {}
    adapted = (run.progress or {}).get("adapt") or {}
    return PreviousRun(run_id=run.id, verdict=metrics.get("gate") if candidate is not None else None,
                       stage=metrics.get("stage"), overrides=dict(adapted.get("overrides") or {}),
                       base_sha=adapted.get("base_sha"),
                       verifier_deferred=VERIFIER_DEFERRED in (run.progress or {}),
                       candidate_id=candidate.id if candidate is not None else None,
                       candidate_path=candidate.path if candidate is not None else None,
                       candidate_status=candidate.status if candidate is not None else None,
                       candidate_lineage=ancestors(session, candidate) if candidate is not None else (),
                       sft_seconds_per_row=sft_seconds_per_row(run.progress))


def lineage_training_files(*, session: Session, checkpoint_id: str, kind: str = "rft") -> list[str]:
    """The row files (``manifest["path"]``) every ``kind`` checkpoint from ``checkpoint_id`` up its lineage trained
    on, nearest first (``training/replay.py``)."""
    return [str(c.manifest["path"]) for c in reversed(load_lineage(session=session, checkpoint_id=checkpoint_id))
            if c.kind == kind and (c.manifest or {}).get("path")]


def ancestors(session: Session, checkpoint: Checkpoint) -> tuple[str, ...]:
    """The checkpoint's ancestors' ids, its parent first (``feedback.reads.load_lineage``)."""
    return tuple(c.id for c in reversed(load_lineage(session=session, checkpoint_id=checkpoint.id)[:-1]))
