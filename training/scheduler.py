"""The periodic cycle: APScheduler 3.11 with its job store in the app's database.

The job only launches ``mathchat cycle --trigger schedule`` as a detached subprocess and returns, so a
long cycle never blocks the scheduler (or a serving process hosting a BackgroundScheduler). APScheduler's
defaults (misfire_grace_time=1 s) would silently skip a late job: the grace time comes from settings.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from mathchat.settings import Settings

log = logging.getLogger(__name__)

JOB_ID = "mathchat-cycle"
JOBS_TABLE = "apscheduler_jobs"


def cycle_command(extra_args: list[str] | None = None) -> list[str]:
    """The command the scheduled job runs.

    >>> cycle_command(["--k", "4"])[1:]
    ['-m', 'mathchat.cli', 'cycle', '--trigger', 'schedule', '--k', '4']
    """
    return [sys.executable, "-m", "mathchat.cli", "cycle", "--trigger", "schedule", *(extra_args or [])]


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

    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(url=settings.database.url, tablename=JOBS_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.training.misfire_grace_s},
        timezone="UTC",
    )
    scheduler.add_job(launch_cycle, "interval", minutes=settings.training.schedule_minutes, id=JOB_ID,
                      name="self-critique cycle", replace_existing=True,
                      kwargs={"extra_args": list(extra_args or []), "log_dir": str(settings.training.workdir)})
    return scheduler
