"""Every feedback test runs on SQLite (a temp file) and on PostgreSQL (a fresh schema per test session).

The schema comes from the real Alembic migrations (``upgrade_db``). The ``session`` fixture wraps
each test in a transaction that is rolled back; tests that need real commits take ``fresh_engine``
(a new database of the same kind, dropped afterwards). PostgreSQL is expected at
``MATHCHAT_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from feedback.db import make_engine, upgrade_db

PG_URL = os.environ.get("MATHCHAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA_PREFIX = "mathchat_test_"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


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


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with new_database(backend, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test (store code may use savepoints)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            yield s
        transaction.rollback()


@pytest.fixture
def fresh_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A new migrated database for tests that commit for real."""
    with new_database(backend, tmp_path) as url:
        engine = make_engine(url, busy_timeout_ms=50)
        yield engine
        engine.dispose()
