"""feedback/models.py: portable types and constraints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from feedback.models import Message, User
from tests.fakes import make_chat


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(User(username="ada", password_hash="x", role="student", created_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_other_timezones_are_stored_as_the_same_instant_in_utc(session: Session) -> None:
    plus_two = timezone(timedelta(hours=2))
    session.add(User(username="ada", password_hash="x", role="student", created_at=datetime(2026, 1, 1, 12, tzinfo=plus_two)))
    session.flush()
    session.expire_all()
    user = session.query(User).one()
    assert user.created_at == datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    assert user.created_at.utcoffset() == timedelta(0)


def test_check_constraint_refuses_an_unknown_message_status(session: Session) -> None:
    chat = make_chat(session, "ada")
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.add(Message(conversation_id=chat.conversation.id, role="assistant", content="", status="weird"))


def test_json_columns_round_trip_nested_values(session: Session) -> None:
    chat = make_chat(session, "ada")
    chat.answer.sampling = {"temperature": 0.5, "stop": ["\n\n"], "nested": {"a": [1, 2.5, None]}}
    session.flush()
    session.expire_all()
    assert session.get(Message, chat.answer.id).sampling == {"temperature": 0.5, "stop": ["\n\n"], "nested": {"a": [1, 2.5, None]}}
