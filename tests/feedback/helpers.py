"""Test databases (fresh SQLite files, fresh PostgreSQL schemas) and builders of test data via the store."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from feedback import store
from feedback.db import upgrade_db
from feedback.models import Conversation, Message, User

PG_URL = os.environ.get("MATHCHAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA_PREFIX = "mathchat_test_"


def _drop_stale_schemas(admin: Engine) -> None:
    """Drop schemas left by killed test sessions on this host (their pid is gone)."""
    with admin.begin() as connection:
        names = connection.execute(
            text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"),
            {"p": SCHEMA_PREFIX + "%"},
        ).scalars()
        for name in list(names):
            pid = name.removeprefix(SCHEMA_PREFIX).split("_")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def new_database(backend: str, folder: Path) -> Iterator[str]:
    """A new, migrated database of ``backend``; yields its URL and removes it afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / f'feedback-{secrets.token_hex(4)}.db'}"
        upgrade_db(url)
        yield url
        return
    schema = f"{SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL)
    try:
        _drop_stale_schemas(admin)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        upgrade_db(url_text)
        yield url_text
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


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
