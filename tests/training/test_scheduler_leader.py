"""One scheduler leader per database (SQLite file lock, PostgreSQL advisory lock on the real server), and the
next run time survives a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mathchat.settings import DatabaseSettings, Settings, TrainingSettings
from tests.fakes import new_database
from training.scheduler import JOB_ID, LeaderLock, LeaderScheduler, build_scheduler


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path):
    with new_database(request.param, tmp_path) as url:
        yield Settings(state_dir=tmp_path, database=DatabaseSettings(url=url),
                       training=TrainingSettings(workdir=tmp_path / "runs", schedule_minutes=60))


def wait_until(condition, timeout_s: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_only_one_replica_leads_and_another_takes_over_when_it_stops(settings: Settings) -> None:
    first, second = LeaderScheduler(settings, retry_s=0.2), LeaderScheduler(settings, retry_s=0.2)
    try:
        first.start()
        assert wait_until(lambda: first.is_leader)
        second.start()
        time.sleep(1.0)
        assert not second.is_leader
        first.shutdown()
        assert wait_until(lambda: second.is_leader)
    finally:
        first.shutdown()
        second.shutdown()


def test_the_lock_is_exclusive_until_released(settings: Settings) -> None:
    a, b = LeaderLock(settings.database.url), LeaderLock(settings.database.url)
    try:
        assert a.try_acquire() and not b.try_acquire()
        a.release()
        assert b.try_acquire()
    finally:
        a.release()
        b.release()


def test_a_restart_keeps_the_next_run_time(settings: Settings) -> None:
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    due = scheduler.get_job(JOB_ID).next_run_time
    scheduler.shutdown(wait=False)
    time.sleep(1.5)
    restarted = build_scheduler(settings)
    restarted.start(paused=True)
    try:
        assert abs((restarted.get_job(JOB_ID).next_run_time - due).total_seconds()) < 0.01
    finally:
        restarted.shutdown(wait=False)
