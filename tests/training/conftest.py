"""Fixtures for the training tests: a migrated temporary SQLite database and settings pointing into tmp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mathchat.settings import DatabaseSettings, ModelSettings, Settings, TrainingSettings, load_settings


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    from feedback.db import upgrade_db

    url = f"sqlite:///{tmp_path / 'mathchat.db'}"
    upgrade_db(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    from feedback.db import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    base = load_settings()
    return load_settings(
        state_dir=tmp_path,
        database=DatabaseSettings(url=db_url),
        training=TrainingSettings(workdir=tmp_path / "runs"),
        model=ModelSettings(cache_dir=base.model.cache_dir, checkpoints_dir=tmp_path / "checkpoints"),
    )
