"""The scheduler: job store in the app's DB, long-job defaults, and a launcher that returns at once."""

import subprocess
from pathlib import Path

from feedback.db import session_scope
from feedback.registry import create_run
from training import scheduler as sched_mod
from training.scheduler import JOB_ID, build_scheduler, cycle_command, launch_cycle


def test_job_is_stored_in_the_database_with_long_job_defaults(settings):
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job.misfire_grace_time == settings.training.misfire_grace_s
        assert job.max_instances == 1 and job.coalesce is True
        assert job.trigger.interval.total_seconds() == settings.training.schedule_minutes * 60
        assert job.func is launch_cycle
    finally:
        scheduler.shutdown(wait=False)
    from sqlalchemy import create_engine, inspect

    assert "apscheduler_jobs" in inspect(create_engine(settings.database.url)).get_table_names()


def test_cycle_command_marks_the_trigger():
    assert cycle_command()[-2:] == ["--trigger", "schedule"]


def test_cycle_command_names_a_real_cli_command():
    """The module and subcommand are a string (training may not import cli): run them with --help."""
    result = subprocess.run([*cycle_command(), "--help"], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert "--trigger" in result.stdout


def test_launcher_skips_when_a_run_is_active(settings, db, monkeypatch):
    monkeypatch.setenv("MATHCHAT_DATABASE__URL", settings.database.url)
    started = []
    monkeypatch.setattr(sched_mod.subprocess, "Popen", lambda *a, **k: started.append(a))
    with session_scope(db) as s:
        create_run(session=s)
    assert launch_cycle(log_dir=str(settings.training.workdir)) is None and started == []


def test_launcher_starts_a_detached_cycle(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("MATHCHAT_DATABASE__URL", settings.database.url)
    seen = {}

    class P:
        pid = 4242

        def __init__(self, cmd, **kwargs):
            seen.update(cmd=cmd, **kwargs)

    monkeypatch.setattr(sched_mod.subprocess, "Popen", P)
    assert launch_cycle(["--k", "2"], log_dir=str(tmp_path)) == 4242
    assert seen["cmd"][-2:] == ["--k", "2"] and seen["start_new_session"] is True
