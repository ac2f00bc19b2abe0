"""The periodic cycle: APScheduler 3.11 with its job store in the app's database.

One process per database leads (``LeaderScheduler``: an advisory lock on PostgreSQL, a file lock beside SQLite),
so several app replicas schedule one cycle, and a restart keeps the stored next run time instead of starting
the interval over.

The job only launches ``mathchat cycle --trigger schedule`` as a detached subprocess and returns, so a
long cycle never blocks the scheduler (or a serving process hosting a BackgroundScheduler); that cycle honours
``training.auto_promote`` like any other (``training/auto_promote.py``). APScheduler's
defaults (misfire_grace_time=1 s) would silently skip a late job: the grace time comes from settings.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mathchat.settings import Settings

log = logging.getLogger(__name__)

JOB_ID = "mathchat-cycle"
JOBS_TABLE = "apscheduler_jobs"


def cycle_command(extra_args: list[str] | None = None) -> list[str]:
    """The command the scheduled job runs.

    >>> cycle_command(["--k", "4"])[1:]
    ['-m', 'cli.main', 'cycle', '--trigger', 'schedule', '--k', '4']
    """
    return [sys.executable, "-m", "cli.main", "cycle", "--trigger", "schedule", *(extra_args or [])]


def launch_cycle(extra_args: list[str] | None = None, log_dir: str | None = None) -> int | None:
    """The scheduled job: start a cycle subprocess unless a run is already active; returns its pid.

    Module-level (not a closure) so the SQLAlchemy job store can reference it by name.
    """
    from feedback.db import make_engine, session_scope
    from feedback.registry import get_active_run
    from mathchat.settings import load_settings

    settings = load_settings()
    db = make_engine(settings.database.url)
    try:
        with session_scope(db) as session:
            active = get_active_run(session=session)
            if active is not None:
                log.info("training run %s is still %s; scheduled cycle skipped", active.id, active.status)
                return None
    finally:
        db.dispose()
    logs = Path(log_dir or settings.training.workdir)
    logs.mkdir(parents=True, exist_ok=True)
    out = (logs / "scheduled-cycles.log").open("ab")
    proc = subprocess.Popen(cycle_command(extra_args), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    out.close()
    log.info("scheduled cycle started as pid %d", proc.pid)
    return proc.pid


def build_scheduler(settings: Settings, *, blocking: bool = False, extra_args: list[str] | None = None):
    """A scheduler whose one job (``mathchat-cycle``) runs every ``training.schedule_minutes``."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    next_run = stored_next_run_time(settings.database.url)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(url=settings.database.url, tablename=JOBS_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.training.misfire_grace_s},
        timezone="UTC",
    )
    interval = timedelta(minutes=settings.training.schedule_minutes)
    if next_run is not None:  # a restart keeps the schedule (at most one interval away, if the interval shrank)
        next_run = min(next_run, datetime.now(timezone.utc) + interval)
    scheduler.add_job(launch_cycle, "interval", minutes=settings.training.schedule_minutes, id=JOB_ID,
                      name="self-critique cycle", replace_existing=True,
                      kwargs={"extra_args": list(extra_args or []), "log_dir": str(settings.training.workdir)},
                      **({"next_run_time": next_run} if next_run is not None else {}))
    return scheduler


def stored_next_run_time(database_url: str) -> datetime | None:
    """When the stored job was due next (APScheduler keeps it as epoch seconds), or None without one."""
    from sqlalchemy import MetaData, Table, create_engine, inspect, select

    engine = create_engine(database_url)
    try:
        if not inspect(engine).has_table(JOBS_TABLE):
            return None
        table = Table(JOBS_TABLE, MetaData(), autoload_with=engine)
        with engine.connect() as connection:
            value = connection.scalar(select(table.c.next_run_time).where(table.c.id == JOB_ID))
    finally:
        engine.dispose()
    return None if value is None else datetime.fromtimestamp(float(value), timezone.utc)


class LeaderLock:
    """Held by at most one process per database: ``pg_try_advisory_lock`` on a connection of its own
    (PostgreSQL; released when that process or connection dies), or an ``flock`` beside the SQLite file."""

    KEY = "mathchat:scheduler-leader"

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        self.url = make_url(database_url)
        # NullPool: closing the connection really ends the session (a pooled one would keep the lock)
        self._engine = create_engine(database_url, poolclass=NullPool) if self.url.get_backend_name() != "sqlite" \
            else None
        self._connection = None
        self._file = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it (never blocks); True while this process holds it."""
        if self.held:
            return True
        if self._engine is not None:
            from sqlalchemy import text

            connection = self._engine.connect()
            try:
                got = connection.scalar(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": self.KEY})
                connection.commit()
            except Exception:
                connection.close()
                raise
            if got:
                self._connection = connection
            else:
                connection.close()
            return bool(got)
        import fcntl

        path = Path(self.url.database or "mathchat.db").expanduser()
        handle = open(f"{path}.scheduler.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # ends the session: the advisory lock goes with it
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._engine is not None:
            self._engine.dispose()


class LeaderScheduler:
    """The background scheduler, run only by the one process that holds the ``LeaderLock``: every app replica
    may start one; the others retry every ``retry_s`` and take over when the leader goes away."""

    def __init__(self, settings: Settings, retry_s: float = 30.0, extra_args: list[str] | None = None) -> None:
        self.settings = settings
        self.retry_s = retry_s
        self.extra_args = extra_args
        self.lock = LeaderLock(settings.database.url)
        self.scheduler = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scheduler-leader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.lock.try_acquire():
                    scheduler = build_scheduler(self.settings, extra_args=self.extra_args)
                    scheduler.start()
                    self.scheduler = scheduler
                    log.info("this process leads the cycle scheduler")
                    return
            except Exception:
                log.exception("could not take the scheduler lead; retrying in %.0f s", self.retry_s)
            self._stop.wait(self.retry_s)

    def shutdown(self, wait: bool = False) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=wait)
            self.scheduler = None
        self.lock.release()
