"""Builders of test data through the store's own functions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from feedback import store
from feedback.models import Conversation, Message, User


@dataclass
class Chat:
    """A student with one conversation holding one question and one finished answer."""

    user: User
    conversation: Conversation
    question: Message
    answer: Message


def make_chat(
    session: Session,
    username: str,
    question: str = "What is 2+3?",
    answer: str = "2+3 = 5. The answer is 5.",
    checkpoint_id: str = "base",
    user: User | None = None,
) -> Chat:
    """Build a finished exchange through the store's own functions (fake hash: no argon2 cost)."""
    if user is None:
        user = store.create_user(session=session, username=username, password_hash="x")
    conversation = store.create_conversation(session=session, user_id=user.id)
    q = store.add_user_message(session=session, conversation_id=conversation.id, user_id=user.id, content=question)
    a = store.begin_assistant_message(
        session=session, conversation_id=conversation.id, parent_id=q.id, checkpoint_id=checkpoint_id,
        sampling={"temperature": 0.7},
    )
    store.finish_assistant_message(session=session, message_id=a.id, status="ok", text=answer)
    return Chat(user, conversation, q, a)
