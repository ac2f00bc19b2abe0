"""Read-only queries over the chat store: what training learns from, and what the console charts.

Rows stream from the database in batches (``yield_per``: a server-side cursor on PostgreSQL), so
exports of 100k answers never hold them all in memory.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from feedback.models import Conversation, Critique, Message, Rating

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
