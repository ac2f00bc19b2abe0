"""Read-only queries over the store: what training learns from, and what the operator console shows and charts.

Rows stream from the database in batches (``yield_per``: a server-side cursor on PostgreSQL), so
exports of 100k answers never hold them all in memory. The console's reads return plain frozen
dataclasses (``RunInfo``, ``DatasetInfo``, ``CheckpointInfo``, ``LiveChange``, ``VolumeDay``), safe to use after the transaction.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from feedback import registry
from feedback.models import Checkpoint, Conversation, Critique, Dataset, Message, Promotion, Rating, TrainingRun

_SPACE = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    """The one dedup key of a question (student logs, exports, the training pool and its held-out split):
    width-folded (NFKC), case-folded, whitespace collapsed, trailing punctuation dropped.

    >>> normalise_question("  What is 2 +  3? ") == normalise_question("what is 2 + 3")
    True
    >>> normalise_question("  What is  2+3？ ")
    'what is 2+3'
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().rstrip("?.!。？！ ").casefold()


@dataclass(frozen=True)
class TrainingQuestion:
    """A distinct question a student asked (the first time it was asked)."""

    message_id: int
    user_id: int
    text: str
    created_at: datetime


@dataclass(frozen=True)
class AnswerRecord:
    """An assistant answer with its question, the critic's verdict and the asker's thumbs."""

    message_id: int
    question_id: int
    user_id: int
    question: str
    answer: str
    status: str
    checkpoint_id: str | None
    created_at: datetime
    score: int | None
    passed: bool | None
    liked: bool | None
    reason: str | None
    confidence: float | None = None
    """The critique's calibrated P(right): what the student's badge showed."""


def questions_for_training(
    *, session: Session, since: datetime | None = None, limit: int | None = None
) -> list[TrainingQuestion]:
    """Distinct student questions (dedup by ``normalise_question``), oldest first."""
    query = (
        select(Message.id, Conversation.user_id, Message.content, Message.created_at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.role == "user")
        .order_by(Message.id)
        .execution_options(yield_per=5000)
    )
    if since is not None:
        query = query.where(Message.created_at >= since)
    seen: set[str] = set()
    questions: list[TrainingQuestion] = []
    for message_id, user_id, text, created_at in session.execute(query):
        key = normalise_question(text)
        if not key or key in seen:
            continue
        seen.add(key)
        questions.append(TrainingQuestion(message_id, user_id, text, created_at))
        if limit is not None and len(questions) >= limit:
            break
    return questions


def _answers_query(
    *,
    since: datetime | None,
    until: datetime | None,
    checkpoint_id: str | None,
    min_score: int | None,
    max_score: int | None,
    status: str | None,
    rated_only: bool,
) -> Select:
    question = aliased(Message, name="question")
    query = (
        select(
            Message.id, question.id, Conversation.user_id, question.content, Message.content, Message.status,
            Message.checkpoint_id, Message.created_at, Critique.score, Critique.passed, Rating.liked, Rating.reason,
            Critique.confidence,
        )
        .join(question, question.id == Message.parent_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(Critique, Critique.message_id == Message.id)
        .outerjoin(Rating, and_(Rating.message_id == Message.id, Rating.user_id == Conversation.user_id))
        .where(Message.role == "assistant")
        .order_by(Message.id)
    )
    if status is not None:
        query = query.where(Message.status == status)
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    if checkpoint_id is not None:
        query = query.where(Message.checkpoint_id == checkpoint_id)
    if min_score is not None:
        query = query.where(Critique.score >= min_score)
    if max_score is not None:
        query = query.where(Critique.score <= max_score)
    if rated_only:
        query = query.where(Rating.id.is_not(None))
    return query


def rated_answers(
    *,
    session: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    checkpoint_id: str | None = None,
    min_score: int | None = None,
    max_score: int | None = None,
    status: str | None = "ok",
    rated_only: bool = False,
    batch_size: int = 5000,
) -> Iterator[AnswerRecord]:
    """Answers with question, critique score and thumbs, oldest first, streamed in batches.

    ``since``/``until`` bound the answer's time (``until`` exclusive); a score bound excludes
    unscored answers; ``rated_only`` keeps answers the asker rated.
    """
    query = _answers_query(
        since=since, until=until, checkpoint_id=checkpoint_id, min_score=min_score, max_score=max_score,
        status=status, rated_only=rated_only,
    )
    for row in session.execute(query.execution_options(yield_per=batch_size)):
        yield AnswerRecord(*row)


@dataclass(frozen=True)
class StudentCorrection:
    """A student's current "the right final answer is ..." on an answer to their own question."""

    question: str
    user_id: int
    correction: str


def current_corrections(*, session: Session, batch_size: int = 5000) -> Iterator[StudentCorrection]:
    """Every current correction (a thumbs-down that gave the right answer) with its question's text, streamed
    in the order the ratings last changed: a student's newest word on a question comes last."""
    question = aliased(Message, name="question")
    query = (
        select(question.content, Rating.user_id, Rating.correction)
        .join(Message, Message.id == Rating.message_id)
        .join(question, and_(question.id == Message.parent_id, question.role == "user"))
        .join(Conversation, and_(Conversation.id == Message.conversation_id, Conversation.user_id == Rating.user_id))
        .where(Message.role == "assistant", Rating.liked.is_(False), Rating.correction.is_not(None))
        .order_by(Rating.updated_at, Rating.id)
        .execution_options(yield_per=batch_size)
    )
    for text, user_id, correction in session.execute(query):
        yield StudentCorrection(text, user_id, correction)


# --- console statistics ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointThumbs:
    """How students rated one checkpoint's answers."""

    checkpoint_id: str | None
    ratings: int
    thumbs_up: int

    @property
    def rate(self) -> float:
        return self.thumbs_up / self.ratings if self.ratings else 0.0


@dataclass(frozen=True)
class AgreementDay:
    """On one day (UTC, by answer time): how often the critic's pass matched the student's thumbs."""

    day: date
    n: int
    agree: int

    @property
    def rate(self) -> float:
        return self.agree / self.n if self.n else 0.0


def thumbs_up_rate_by_checkpoint(*, session: Session, since: datetime | None = None) -> list[CheckpointThumbs]:
    """Thumbs-up counts per checkpoint that wrote the answers, most-rated first."""
    up = func.sum(case((Rating.liked.is_(True), 1), else_=0))
    query = (
        select(Message.checkpoint_id, func.count(Rating.id), up)
        .join(Rating, Rating.message_id == Message.id)
        .group_by(Message.checkpoint_id)
        .order_by(func.count(Rating.id).desc())
    )
    if since is not None:
        query = query.where(Message.created_at >= since)
    return [CheckpointThumbs(cid, int(n), int(k or 0)) for cid, n, k in session.execute(query)]


def judge_human_agreement_by_day(*, session: Session, since: datetime | None = None) -> list[AgreementDay]:
    """Per day, answers both judged (pass/fail) and rated: how many, and how many agreed (pass == thumbs up)."""
    query = (
        select(Message.created_at, Critique.passed, Rating.liked)
        .join(Critique, Critique.message_id == Message.id)
        .join(Rating, Rating.message_id == Message.id)
        .where(Critique.passed.is_not(None))
    )
    if since is not None:
        query = query.where(Message.created_at >= since)
    days: dict[date, list[int]] = {}
    for created_at, passed, liked in session.execute(query.execution_options(yield_per=5000)):
        counts = days.setdefault(created_at.date(), [0, 0])  # bucketed in Python: UTC days on every backend
        counts[0] += 1
        counts[1] += int(bool(passed) == bool(liked))
    return [AgreementDay(day, n, agree) for day, (n, agree) in sorted(days.items())]


# --- the operator console's read models -------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """One recorded data file."""

    id: int
    run_id: int | None
    kind: str
    path: str
    count: int
    content_hash: str
    manifest: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class RunInfo:
    """One training run as the console shows it."""

    id: int
    status: str
    trigger: str
    stage: str | None
    progress: dict[str, Any]
    log: str
    log_path: str | None
    config: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    candidate_checkpoint_id: str | None
    error: str | None
    datasets: list[DatasetInfo] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()


def _dataset_info(d: Dataset) -> DatasetInfo:
    return DatasetInfo(d.id, d.run_id, d.kind, d.path, d.count, d.content_hash, d.manifest, d.created_at)


def _run_info(r: TrainingRun, datasets: Sequence[Dataset] = ()) -> RunInfo:
    return RunInfo(r.id, r.status, r.trigger, r.stage, dict(r.progress or {}), r.log or "", r.log_path, r.config,
                   r.created_at, r.started_at, r.finished_at, r.candidate_checkpoint_id, r.error,
                   [_dataset_info(d) for d in datasets])


def list_run_infos(*, session: Session, limit: int = 30) -> list[RunInfo]:
    """Recent runs, newest first (without their logs' files or datasets)."""
    return [_run_info(r) for r in registry.list_runs(session=session, limit=limit)]


def load_run_info(*, session: Session, run_id: int | None = None) -> RunInfo | None:
    """One run with its datasets; without ``run_id`` the newest run."""
    if run_id is None:
        run = session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(1)).first()
    else:
        run = registry.get_run(session=session, run_id=run_id)
    if run is None:
        return None
    return _run_info(run, registry.list_datasets(session=session, run_id=run.id))


def list_dataset_infos(*, session: Session, kind: str | None = None) -> list[DatasetInfo]:
    """Recorded datasets, newest first."""
    return [_dataset_info(d) for d in registry.list_datasets(session=session, kind=kind)]


def get_dataset_info(*, session: Session, dataset_id: int) -> DatasetInfo | None:
    """One dataset row."""
    d = session.get(Dataset, dataset_id)
    return None if d is None else _dataset_info(d)


def list_run_dataset_infos(*, session: Session, run_id: int) -> list[DatasetInfo]:
    """The datasets one run recorded."""
    return [_dataset_info(d) for d in registry.list_datasets(session=session, run_id=run_id)]


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint as the console shows it."""

    id: str
    parent_id: str | None
    kind: str
    status: str
    gate_passed: bool | None
    metrics: dict[str, Any] | None
    path: str
    created_at: datetime
    manifest: dict[str, Any] | None = None
    """The data manifest it was trained on (its rows file under ``path``)."""


def _checkpoint_info(c: Checkpoint) -> CheckpointInfo:
    return CheckpointInfo(c.id, c.parent_id, c.kind, c.status, c.gate_passed, c.metrics, c.path, c.created_at,
                          c.manifest)


def list_checkpoint_infos(*, session: Session, kind: str | None = None, limit: int = 200) -> list[CheckpointInfo]:
    """Policy and critic checkpoints (only ``kind``'s if given), newest first."""
    return [_checkpoint_info(c) for c in registry.list_checkpoints(session=session, kind=kind, limit=limit)]


def get_checkpoint_info(*, session: Session, checkpoint_id: str) -> CheckpointInfo | None:
    c = registry.get_checkpoint(session=session, checkpoint_id=checkpoint_id)
    return None if c is None else _checkpoint_info(c)


def get_live_checkpoint_info(*, session: Session) -> CheckpointInfo | None:
    """The live policy checkpoint."""
    c = registry.get_live_checkpoint(session=session, family="policy")
    return None if c is None else _checkpoint_info(c)


def load_lineage(*, session: Session, checkpoint_id: str, max_depth: int = 100) -> list[CheckpointInfo]:
    """The checkpoint and its ancestors along ``parent_id``, oldest first (cycles are cut)."""
    chain: list[CheckpointInfo] = []
    seen: set[str] = set()
    current: str | None = checkpoint_id
    while current is not None and current not in seen and len(chain) < max_depth:
        seen.add(current)
        c = registry.get_checkpoint(session=session, checkpoint_id=current)
        if c is None:
            break
        chain.append(_checkpoint_info(c))
        current = c.parent_id
    return chain[::-1]


@dataclass(frozen=True)
class LiveChange:
    """One promotion or rollback that changed a family's live checkpoint, with the run that made its target."""

    id: int
    action: str
    from_id: str | None
    to_id: str
    to_kind: str
    by_user: str
    at: datetime
    override: bool
    automatic: bool
    run_id: int | None
    """The training run that produced ``to_id`` (its ``metrics["run_id"]``); None for the base model."""


def load_live_chain(*, session: Session, family: str = "policy", limit: int = 100) -> list[LiveChange]:
    """The last ``limit`` changes of the family's live checkpoint, oldest first: the lineage of live models."""
    query = (select(Promotion, Checkpoint.kind, Checkpoint.metrics)
             .join(Checkpoint, Checkpoint.id == Promotion.to_id)
             .where(Checkpoint.kind.in_(registry.FAMILIES[family]))
             .order_by(Promotion.id.desc()).limit(limit))
    changes = []
    for p, kind, metrics in session.execute(query):
        run_id = (metrics or {}).get("run_id")
        changes.append(LiveChange(p.id, p.action, p.from_id, p.to_id, kind, p.by_user, p.at, p.override, p.automatic,
                                  run_id if isinstance(run_id, int) else None))
    return changes[::-1]


@dataclass(frozen=True)
class VolumeDay:
    """Chat activity on one UTC day."""

    day: date
    questions: int = 0
    answers: int = 0
    ratings: int = 0
    thumbs_up: int = 0


def feedback_volume_by_day(*, session: Session, since: datetime | None = None) -> list[VolumeDay]:
    """Questions, answers and ratings per UTC day (bucketed in Python, the same on every backend)."""
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    query = select(Message.created_at, Message.role).execution_options(yield_per=5000)
    if since is not None:
        query = query.where(Message.created_at >= since)
    for created_at, role in session.execute(query):
        days[created_at.date()][0 if role == "user" else 1] += 1
    ratings = select(Rating.created_at, Rating.liked).execution_options(yield_per=5000)
    if since is not None:
        ratings = ratings.where(Rating.created_at >= since)
    for created_at, liked in session.execute(ratings):
        counts = days[created_at.date()]
        counts[2] += 1
        counts[3] += int(bool(liked))
    return [VolumeDay(day, *counts) for day, counts in sorted(days.items())]
