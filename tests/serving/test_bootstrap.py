"""Startup chores: a restarted replica fails only its own interrupted answers and anyone's stale ones, never an
answer another replica is streaming right now (SQLite and the real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from feedback import store
from feedback.db import make_engine, run_in_transaction, session_scope
from feedback.models import Message, utcnow
from mathchat.settings import DatabaseSettings, ServerSettings, Settings
from serving.bootstrap import fail_interrupted_answers
from tests.fakes import new_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path):
    with new_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def streaming_answer(db, owner: str, age_s: float) -> int:  # noqa: ANN001
    def work(s):  # noqa: ANN001, ANN202
        user = store.create_user(session=s, username=f"u-{owner}-{int(age_s)}".replace(":", "-"), password_hash="x")
        conv = store.create_conversation(session=s, user_id=user.id)
        q = store.add_user_message(session=s, conversation_id=conv.id, user_id=user.id, content="What is 2+2?")
        a = store.begin_assistant_message(session=s, conversation_id=conv.id, parent_id=q.id, checkpoint_id="c",
                                          sampling={}, owner=owner)
        s.execute(update(Message).where(Message.id == a.id).values(created_at=utcnow() - timedelta(seconds=age_s)))
        return a.id

    return run_in_transaction(db, work)


def test_a_restart_fails_its_own_and_stale_answers_only(db) -> None:  # noqa: ANN001
    mine = streaming_answer(db, "replica-a", age_s=5)
    theirs = streaming_answer(db, "replica-b", age_s=5)
    stale = streaming_answer(db, "replica-b", age_s=3600)
    settings = Settings(database=DatabaseSettings(url=str(db.url)),
                        server=ServerSettings(replica_id="replica-a", stale_streaming_s=900))
    assert fail_interrupted_answers(db, settings) == 2
    with session_scope(db) as s:
        status = dict(s.execute(select(Message.id, Message.status).where(Message.role == "assistant")).all())
    assert status == {mine: "failed", theirs: "streaming", stale: "failed"}
