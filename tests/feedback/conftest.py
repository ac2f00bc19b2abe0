"""Every feedback test runs on SQLite (a temp file) and on PostgreSQL (a fresh schema per test session).

The schema comes from the real Alembic migrations (``upgrade_db``). The ``session`` fixture wraps
each test in a transaction that is rolled back; tests that need real commits take ``fresh_engine``
(a new database of the same kind, dropped afterwards). PostgreSQL is expected at
``MATHCHAT_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedback.db import make_engine
from tests.fakes import BACKENDS, new_database, rolled_back_session


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
    with rolled_back_session(engine) as s:
        yield s


@pytest.fixture
def fresh_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A new migrated database for tests that commit for real."""
    with new_database(backend, tmp_path) as url:
        engine = make_engine(url, busy_timeout_ms=50)
        yield engine
        engine.dispose()
