"""The chat store: users, conversations, messages, critiques and ratings.

Every function takes a keyword-only ``session`` and never commits: the request or job that calls
it owns the transaction (``feedback.db.session_scope`` / ``run_in_transaction``). Refusals raise
``InvalidInput`` (or ``NotAllowed``) *before* anything is written. A student sees and rates only
their own conversations. Checkpoints, runs and datasets live in ``feedback.registry``; training
reads and console statistics in ``feedback.reads``: one way in to each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedback.errors import InvalidInput, NotAllowed
from feedback.models import (
    MAX_COMMENT_CHARS,
    MAX_CORRECTION_CHARS,
    RATING_REASONS,
    USER_ROLES,
    Conversation,
    Critique,
    Message,
    Rating,
    RatingEvent,
    User,
    utcnow,
)
TITLE_CHARS = 60
"""Length of a conversation title taken from its first question (characters)."""

CRITIQUE_FIELDS = (
    "score", "band", "passed", "confidence", "explanation", "has_reference", "judge_score", "answer_score",
    "steps_score", "consistency_score", "parts", "critic_version", "calibration_version",
)
"""The ``Critique`` columns a critique row sets (``serving.critique.types.CritiqueResult.to_row`` builds one)."""


# --- users -------------------------------------------------------------------------------------


def create_user(*, session: Session, username: str, password_hash: str, role: str = "student") -> User:
    """A new user; the username must be free (``InvalidInput`` otherwise). Hash with ``feedback.auth``."""
    if role not in USER_ROLES:
        raise InvalidInput(f"Unknown role {role!r}; choose one of {', '.join(USER_ROLES)}.")
    if get_user_by_name(session=session, username=username) is not None:
        raise InvalidInput(f"The username {username!r} is taken.")
    user = User(username=username, password_hash=password_hash, role=role, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def get_user(*, session: Session, user_id: int) -> User | None:
    """The user with this id, or None."""
    return session.get(User, user_id)


def get_user_by_name(*, session: Session, username: str) -> User | None:
    """The user with this username, whatever its case (names are stored case-folded; older mixed-case names
    still match), or None."""
    folded = username.casefold()
    return session.scalars(select(User).where(func.lower(User.username) == folded).order_by(User.id)).first()


def list_users(*, session: Session) -> list[User]:
    """All users, oldest first (operator console)."""
    return list(session.scalars(select(User).order_by(User.id)))


def set_user_disabled(*, session: Session, user_id: int, disabled: bool) -> User:
    """Disable (or re-enable) a login; their data stays. Disabling also revokes every session."""
    user = session.get(User, user_id)
    if user is None:
        raise InvalidInput(f"No user with id {user_id}.")
    user.disabled = disabled
    if disabled:
        user.session_version += 1
    session.flush()
    return user


def set_password_hash(*, session: Session, user_id: int, password_hash: str) -> None:
    """Replace a user's password hash (an upgrade of its parameters on login); sessions stay valid."""
    user = session.get(User, user_id)
    if user is None:
        raise InvalidInput(f"No user with id {user_id}.")
    user.password_hash = password_hash
    session.flush()


def revoke_sessions(*, session: Session, user_id: int) -> int:
    """Sign the user out of every browser: session cookies stamped with an older version stop working.
    Returns the new version."""
    user = session.get(User, user_id)
    if user is None:
        raise InvalidInput(f"No user with id {user_id}.")
    user.session_version += 1
    session.flush()
    return user.session_version


# --- conversations and messages ----------------------------------------------------------------


def create_conversation(*, session: Session, user_id: int, title: str = "") -> Conversation:
    """A new, empty conversation owned by ``user_id``."""
    now = utcnow()
    conversation = Conversation(user_id=user_id, title=title[:200], created_at=now, updated_at=now)
    session.add(conversation)
    session.flush()
    return conversation


def list_conversations(*, session: Session, user_id: int, limit: int = 100) -> list[Conversation]:
    """The user's own conversations, most recently active first."""
    query = (
        select(Conversation)
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def get_conversation(*, session: Session, conversation_id: int, user_id: int | None) -> Conversation | None:
    """The conversation if it is ``user_id``'s own, else None; ``user_id=None`` (operators only) skips the check."""
    query = select(Conversation).where(Conversation.id == conversation_id)
    if user_id is not None:
        query = query.where(Conversation.user_id == user_id)
    return session.scalar(query)


def conversation_messages(*, session: Session, conversation_id: int, user_id: int | None) -> list[Message]:
    """The conversation's messages in order; empty if it is not the user's (``user_id=None``: operators)."""
    if get_conversation(session=session, conversation_id=conversation_id, user_id=user_id) is None:
        return []
    query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    return list(session.scalars(query))


def get_message(*, session: Session, message_id: int, user_id: int | None) -> Message | None:
    """One message of the user's own conversations (any user's when ``user_id`` is None), else None."""
    query = select(Message).where(Message.id == message_id)
    if user_id is not None:
        query = query.join(Conversation, Conversation.id == Message.conversation_id).where(
            Conversation.user_id == user_id)
    return session.scalar(query)


def _own_conversation(session: Session, conversation_id: int, user_id: int) -> Conversation:
    conversation = get_conversation(session=session, conversation_id=conversation_id, user_id=user_id)
    if conversation is None:
        raise NotAllowed("No such conversation.")
    return conversation


def add_user_message(
    *, session: Session, conversation_id: int, user_id: int, content: str, max_chars: int | None = None
) -> Message:
    """Store a student's question in their own conversation (titling an untitled conversation)."""
    text = content.strip()
    if not text:
        raise InvalidInput("The question is empty.")
    if max_chars is not None and len(text) > max_chars:
        raise InvalidInput(f"The question is too long ({len(text)} characters; at most {max_chars}).")
    conversation = _own_conversation(session, conversation_id, user_id)
    now = utcnow()
    message = Message(conversation_id=conversation_id, role="user", content=text, status="ok", created_at=now)
    session.add(message)
    conversation.updated_at = now
    if not conversation.title:
        first_line = " ".join(text.split())
        conversation.title = first_line[:TITLE_CHARS] + ("…" if len(first_line) > TITLE_CHARS else "")
    session.flush()
    return message


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy (pydantic models and dataclasses included)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return json.loads(json.dumps(value, default=str))


def begin_assistant_message(
    *,
    session: Session,
    conversation_id: int,
    parent_id: int,
    checkpoint_id: str | None,
    sampling: Mapping[str, Any] | Any,
    owner: str | None = None,
) -> Message:
    """An empty ``streaming`` answer to question ``parent_id``, stamped with the checkpoint and sampling used.

    ``sampling`` is a ``SamplingSettings`` or a plain mapping. Ownership is the caller's check
    (it just stored the question with ``add_user_message``); the parent must be a user message
    of the same conversation.
    """
    parent = session.get(Message, parent_id)
    if parent is None or parent.conversation_id != conversation_id or parent.role != "user":
        raise InvalidInput("The answer must point at a question of the same conversation.")
    message = Message(
        conversation_id=conversation_id,
        role="assistant",
        content="",
        status="streaming",
        checkpoint_id=checkpoint_id,
        sampling=_jsonable(sampling),
        parent_id=parent_id,
        created_at=utcnow(),
        owner=owner,
    )
    session.add(message)
    session.flush()
    return message


def update_assistant_text(*, session: Session, message_id: int, text: str) -> bool:
    """Save the partial text of a streaming answer; False if it is no longer streaming (nothing changed)."""
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "streaming")
        .values(content=text)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount > 0


def finish_assistant_message(
    *,
    session: Session,
    message_id: int,
    status: str,
    text: str | None = None,
    error: str | None = None,
    ttft_s: float | None = None,
    latency_s: float | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> Message:
    """Close a streaming answer as ``ok`` or ``failed``. ``text=None`` keeps the partial text already saved."""
    if status not in ("ok", "failed"):
        raise InvalidInput(f"An answer finishes as 'ok' or 'failed', not {status!r}.")
    message = session.get(Message, message_id)
    if message is None or message.role != "assistant":
        raise InvalidInput(f"No assistant message {message_id}.")
    if message.status != "streaming":
        raise InvalidInput(f"Message {message_id} already finished ({message.status}).")
    now = utcnow()
    message.status = status
    if text is not None:
        message.content = text
    message.error = error
    message.finished_at = now
    message.ttft_s = ttft_s
    message.latency_s = latency_s
    message.prompt_tokens = prompt_tokens
    message.completion_tokens = completion_tokens
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is not None:
        conversation.updated_at = now
    session.flush()
    return message


def mark_interrupted_messages(*, session: Session, before: datetime | None = None, owner: str | None = None) -> int:
    """Fail answers left ``streaming`` by a crash or restart (keeping their partial text); returns how many.

    With ``owner`` and/or ``before``: only that replica's answers, or any begun before ``before`` (another
    replica may be streaming the rest right now); with neither, every streaming answer.
    """
    query = update(Message).where(Message.status == "streaming")
    mine = [Message.owner == owner] if owner is not None else []
    old = [Message.created_at < before] if before is not None else []
    if mine or old:
        query = query.where(or_(*mine, *old))
    result = session.execute(
        query.values(status="failed", error="interrupted: the server stopped while answering", finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


# --- critiques ---------------------------------------------------------------------------------


def save_critique(*, session: Session, message_id: int, row: Mapping[str, Any]) -> Critique:
    """Store the critic's verdict on an assistant message; a newer verdict replaces the old one.

    ``row`` is plain data keyed by ``CRITIQUE_FIELDS`` (missing fields are stored empty), so the store
    knows nothing of the critic's types.
    """
    unknown = set(row) - set(CRITIQUE_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown critique fields: {', '.join(sorted(unknown))}.")
    message = session.get(Message, message_id)
    if message is None or message.role != "assistant":
        raise InvalidInput(f"No assistant message {message_id} to critique.")
    critique = session.scalar(select(Critique).where(Critique.message_id == message_id))
    if critique is None:
        critique = Critique(message_id=message_id)
        session.add(critique)
    for name in CRITIQUE_FIELDS:
        value = row.get(name, False if name == "has_reference" else None)
        setattr(critique, name, _jsonable(value) if name == "parts" and value is not None else value)
    critique.created_at = utcnow()
    session.flush()
    return critique


def get_critique(*, session: Session, message_id: int) -> Critique | None:
    """The latest verdict on a message, or None."""
    return session.scalar(select(Critique).where(Critique.message_id == message_id))


# --- ratings -----------------------------------------------------------------------------------


def validate_correction(correction: str | None) -> str | None:
    """A student's final answer, stripped (empty: None), or ``InvalidInput``: one short value on one line.

    Only the shape is checked here; whether it is mathematics the training side decides
    (``training.corrections``).

    >>> validate_correction("  3/4 "), validate_correction(""), validate_correction(None)
    ('3/4', None, None)
    >>> validate_correction("x = 5")
    'x = 5'
    """
    correction = (correction or "").strip() or None
    if correction is None:
        return None
    if len(correction) > MAX_CORRECTION_CHARS:
        raise InvalidInput(f"The right answer is too long ({len(correction)} characters; at most "
                           f"{MAX_CORRECTION_CHARS}): give just the final value.")
    if "\n" in correction or "\r" in correction:
        raise InvalidInput("Give the right answer as one value on one line.")
    if not any(ch.isalnum() for ch in correction):
        raise InvalidInput("The right answer needs a number or a letter.")
    return correction


def validate_rating(
    liked: bool, reason: str | None, comment: str | None, correction: str | None = None
) -> tuple[bool, str | None, str | None, str | None]:
    """Normalised (liked, reason, comment, correction), or ``InvalidInput``: reasons come from ``RATING_REASONS``;
    a correction (the right final answer) comes only with a thumbs-down.

    >>> validate_rating(False, "wrong steps", "  step 2 is off ")
    (False, 'wrong steps', 'step 2 is off', None)
    >>> validate_rating(True, "", "")
    (True, None, None, None)
    >>> validate_rating(False, "wrong answer", None, " 85 ")
    (False, 'wrong answer', None, '85')
    >>> validate_rating(True, None, None, "85")
    Traceback (most recent call last):
    feedback.errors.InvalidInput: A right answer goes with a thumbs-down only.
    """
    if not isinstance(liked, bool):
        raise InvalidInput("A rating is a thumbs up or down.")
    reason = (reason or "").strip() or None
    if reason is not None and reason not in RATING_REASONS:
        raise InvalidInput(f"Unknown reason {reason!r}; choose one of: {', '.join(RATING_REASONS)}.")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"The comment is too long ({len(comment)} characters; at most {MAX_COMMENT_CHARS}).")
    correction = validate_correction(correction)
    if correction is not None and liked:
        raise InvalidInput("A right answer goes with a thumbs-down only.")
    return liked, reason, comment, correction


_RATING_TARGET = (
    select(Message.id, Rating)
    .join(Conversation, Conversation.id == Message.conversation_id)
    .outerjoin(Rating, and_(Rating.message_id == Message.id, Rating.user_id == bindparam("user_id")))
    .where(
        Message.id == bindparam("message_id"),
        Message.role == "assistant",
        Conversation.user_id == bindparam("user_id"),
    )
)
"""One round trip for a thumbs click: is it the user's own answer, and what is their current rating (built once)."""


def upsert_rating(
    *,
    session: Session,
    message_id: int,
    user_id: int,
    liked: bool,
    reason: str | None = None,
    comment: str | None = None,
    correction: str | None = None,
) -> Rating:
    """Set the user's rating of an answer in their own conversation.

    Repeating the same rating changes nothing; a different one (thumb, reason, comment or correction)
    updates the row and appends a ``RatingEvent``. Invalid input or someone else's message raises
    before anything is written.
    """
    liked, reason, comment, correction = validate_rating(liked, reason, comment, correction)
    target = session.execute(_RATING_TARGET, {"message_id": message_id, "user_id": user_id}).first()
    if target is None:
        raise NotAllowed("No such answer in your conversations.")
    rating: Rating | None = target[1]
    now = utcnow()
    created = False
    if rating is None:
        try:
            with session.begin_nested():  # a concurrent first rating may win the unique key
                rating = Rating(
                    message_id=message_id, user_id=user_id, liked=liked, reason=reason, comment=comment,
                    correction=correction, created_at=now, updated_at=now,
                )
                session.add(rating)
            created = True
        except IntegrityError:
            rating = get_rating(session=session, message_id=message_id, user_id=user_id)
            if rating is None:
                raise
    state = (liked, reason, comment, correction)
    if not created and (rating.liked, rating.reason, rating.comment, rating.correction) == state:
        return rating
    rating.liked, rating.reason, rating.comment, rating.correction = state
    rating.updated_at = now
    session.add(
        RatingEvent(
            rating_id=rating.id, message_id=message_id, user_id=user_id,
            liked=liked, reason=reason, comment=comment, correction=correction, created_at=now,
        )
    )
    session.flush()
    return rating


def get_rating(*, session: Session, message_id: int, user_id: int) -> Rating | None:
    """The user's current rating of a message, or None."""
    return session.scalar(select(Rating).where(Rating.message_id == message_id, Rating.user_id == user_id))


def rating_history(*, session: Session, message_id: int, user_id: int) -> list[RatingEvent]:
    """Every rating state the user set on a message, oldest first."""
    query = (
        select(RatingEvent)
        .where(RatingEvent.message_id == message_id, RatingEvent.user_id == user_id)
        .order_by(RatingEvent.id)
    )
    return list(session.scalars(query))


def count_rows(*, session: Session, model: type) -> int:
    """Row count of a model's table (tests, console)."""
    return session.scalar(select(func.count()).select_from(model)) or 0
