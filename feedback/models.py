"""SQL models: users, chats, critiques, ratings, checkpoints, promotions, training runs, datasets.

One ``Base``; typed ``Mapped`` columns; portable types only (JSON, timezone-aware UTC datetimes),
so the same models run on SQLite (default) and PostgreSQL (production). The schema itself is
created by the Alembic migrations in ``feedback/migrations`` -- keep the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

USER_ROLES = ("student", "operator")
MESSAGE_ROLES = ("user", "assistant")
MESSAGE_STATUSES = ("streaming", "ok", "failed")
RATING_REASONS = ("wrong answer", "wrong steps", "unclear", "incomplete", "other")
"""The fixed reasons a student may give with a rating (the UI's feedback options)."""
CHECKPOINT_KINDS = ("base", "rft", "dpo", "critic", "verifier")
CHECKPOINT_STATUSES = ("candidate", "live", "retired", "rejected")
PROMOTION_ACTIONS = ("promote", "rollback")
RUN_STATUSES = ("queued", "running", "succeeded", "failed")
RUN_TRIGGERS = ("manual", "schedule")
DATASET_KINDS = ("rft", "dpo", "sft", "kto", "critic", "general", "verifier")

MAX_COMMENT_CHARS = 2000
"""Longest rating comment accepted (characters)."""
MAX_CORRECTION_CHARS = 64
"""Longest final answer a student may give with a thumbs-down (characters)."""

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Named constraints, so Alembic batch migrations on SQLite can find them later."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of datetime we store)."""
    return datetime.now(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL CHECK text restricting ``column`` to ``values``.

    >>> _one_of("role", ("a", "b"))
    "role IN ('a', 'b')"
    """
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive; we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware one (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The one declarative base."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class User(Base):
    """A student or an operator."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", USER_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="student")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Stamped into each session cookie; raising it signs out every browser (``store.revoke_sessions``)."""


class Conversation(Base):
    """One chat thread; visible only to its owner."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """A chat turn. Assistant rows carry how they were made (checkpoint, sampling, timings) and point at their question."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_one_of("role", MESSAGE_ROLES), name="role"),
        CheckConstraint(_one_of("status", MESSAGE_STATUSES), name="status"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_created_at", "created_at"),
        Index("ix_messages_checkpoint", "checkpoint_id"),
        Index("ix_messages_parent", "parent_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    checkpoint_id: Mapped[str | None] = mapped_column(String(128))
    """Id of the checkpoint that wrote this answer (a plain string: serving need not register it first)."""
    sampling: Mapped[dict[str, Any] | None]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    """For assistant rows: the user message this answers."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    ttft_s: Mapped[float | None] = mapped_column(Float)
    latency_s: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    owner: Mapped[str | None] = mapped_column(String(128))
    """For streaming answers: the app replica that streams it (``server.replica_id``)."""


class Critique(Base):
    """The critic's latest verdict on one assistant message (re-critiquing replaces it)."""

    __tablename__ = "critiques"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int | None] = mapped_column(Integer)
    band: Mapped[str | None] = mapped_column(String(16))
    passed: Mapped[bool | None] = mapped_column(Boolean)
    confidence: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, default="")
    has_reference: Mapped[bool] = mapped_column(Boolean, default=False)
    judge_score: Mapped[float | None] = mapped_column(Float)
    answer_score: Mapped[float | None] = mapped_column(Float)
    steps_score: Mapped[float | None] = mapped_column(Float)
    consistency_score: Mapped[float | None] = mapped_column(Float)
    parts: Mapped[dict[str, Any] | None]
    critic_version: Mapped[str] = mapped_column(String(64), default="")
    calibration_version: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(Base):
    """A user's current thumbs on one answer; a change updates this row and appends a ``RatingEvent``."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("message_id", "user_id"),
        CheckConstraint(f"reason IS NULL OR {_one_of('reason', RATING_REASONS)}", name="reason"),
        Index("ix_ratings_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    liked: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(String(MAX_CORRECTION_CHARS))
    """With a thumbs-down: the final answer the student says is right (training may make it the reference)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RatingEvent(Base):
    """Append-only history: one row per distinct rating state a user set."""

    __tablename__ = "rating_events"
    __table_args__ = (Index("ix_rating_events_rating", "rating_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
    liked: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(String(MAX_CORRECTION_CHARS))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


LIVE_FAMILIES_SQL = {"policy": "status = 'live' AND kind IN ('base', 'rft', 'dpo')",
                     "critic": "status = 'live' AND kind = 'critic'",
                     "verifier": "status = 'live' AND kind = 'verifier'"}
"""The live slots (``feedback.registry.FAMILIES``) in SQL: a partial unique index on each keeps one live
checkpoint per family even when two promotions race."""


class Checkpoint(Base):
    """A model the loop produced or started from; at most one ``live`` per family (policy, critic, verifier)."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CHECKPOINT_KINDS), name="kind"),
        CheckConstraint(_one_of("status", CHECKPOINT_STATUSES), name="status"),
        Index("ix_checkpoints_status", "status"),
        *(Index(f"uq_checkpoints_one_live_{family}", "status", unique=True, sqlite_where=text(where),
                postgresql_where=text(where)) for family, where in LIVE_FAMILIES_SQL.items()),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    """Human-readable id, e.g. ``base-smollm2-135m`` or ``rft-20261125-1200``."""
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("checkpoints.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    gate_passed: Mapped[bool | None] = mapped_column(Boolean)
    metrics: Mapped[dict[str, Any] | None]
    manifest: Mapped[dict[str, Any] | None]
    config: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Promotion(Base):
    """An audit row: who made which checkpoint live, from which, on what evidence."""

    __tablename__ = "promotions"
    __table_args__ = (CheckConstraint(_one_of("action", PROMOTION_ACTIONS), name="action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    from_id: Mapped[str | None] = mapped_column(String(128))
    to_id: Mapped[str] = mapped_column(String(128))
    by_user: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    evaluation: Mapped[dict[str, Any] | None]
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Made by the loop itself (``training.auto_promote``, the verifier stage), not by a person's decision."""


class TrainingRun(Base):
    """One cycle of the loop (pool -> sample -> critique -> RFT/DPO -> evaluate -> candidate)."""

    __tablename__ = "training_runs"
    __table_args__ = (
        CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
        CheckConstraint(_one_of("trigger", RUN_TRIGGERS), name="trigger"),
        Index("ix_training_runs_status", "status"),
        *(Index(f"uq_training_runs_one_{status}", "status", unique=True, sqlite_where=text(f"status = '{status}'"),
                postgresql_where=text(f"status = '{status}'")) for status in ("queued", "running")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[dict[str, Any] | None]
    """Per stage: whatever the stage reports, e.g. ``{"sample": {"done": 40, "total": 128}}``."""
    log: Mapped[str] = mapped_column(Text, default="")
    log_path: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    candidate_checkpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(Text)


class Dataset(Base):
    """A data file a run (or an export) wrote, with its manifest and content hash."""

    __tablename__ = "datasets"
    __table_args__ = (
        CheckConstraint(_one_of("kind", DATASET_KINDS), name="kind"),
        Index("ix_datasets_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("training_runs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    manifest: Mapped[dict[str, Any] | None]
    count: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
