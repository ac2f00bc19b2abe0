"""The console tests' database: a fresh migrated SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from feedback.db import make_engine, upgrade_db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated SQLite database (tests commit for real: the console reads in its own transactions)."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade_db(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
