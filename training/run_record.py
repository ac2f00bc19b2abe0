"""The cycle's TrainingRun row: one run at a time, per-stage progress and timings, a log, and failure.

Every update is its own short transaction (``run_in_transaction``), so the console sees progress live
and a crash leaves the run marked failed with its log, never a half-written candidate.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine

from feedback.db import run_in_transaction, serialize_on
from feedback.registry import append_run_log, create_run, finish_run, get_active_run, update_run_stage


class CycleBusy(RuntimeError):
    """Another training run is queued or running."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunRecorder:
    """Writes one run's progress to the database."""

    def __init__(self, db: Engine, run_id: int) -> None:
        self.db = db
        self.run_id = run_id
        self.timings: dict[str, float] = {}
        self._last_progress = 0.0

    @classmethod
    def start(cls, db: Engine, *, trigger: str, config: dict[str, Any], log_path: str | None) -> "RunRecorder":
        """Create the run, refusing when another one is active (a run whose process died is failed first)."""
        me = {"pid": os.getpid(), "host": socket.gethostname()}

        def work(session) -> int:
            serialize_on(session, "training-run")  # a second cycle starting now waits, then sees this run
            active = get_active_run(session=session)
            if active is not None:
                owner = (active.progress or {}).get("owner", {})
                dead = owner.get("host") == me["host"] and owner.get("pid") and not _pid_alive(owner["pid"])
                if not dead:
                    raise CycleBusy(f"training run {active.id} is {active.status} (stage {active.stage})")
                finish_run(session=session, run_id=active.id, status="failed",
                           error=f"its process {owner['pid']} died without finishing")
            run = create_run(session=session, trigger=trigger, config=config, log_path=log_path)
            update_run_stage(session=session, run_id=run.id, stage="start", progress={})
            run.progress = {"owner": me, **(run.progress or {})}
            return run.id

        return cls(db, run_in_transaction(db, work))

    def progress(self, stage: str, force: bool = False, **data: Any) -> None:
        """Report progress within a stage (throttled to one write per second unless forced)."""
        now = time.monotonic()
        if not force and now - self._last_progress < 1.0:
            return
        self._last_progress = now
        run_in_transaction(self.db, lambda s: update_run_stage(session=s, run_id=self.run_id, stage=stage,
                                                               progress=data))

    def log(self, text: str) -> None:
        """Append a line to the run's log."""
        line = f"[{time.strftime('%H:%M:%S')}] {text}\n"
        run_in_transaction(self.db, lambda s: append_run_log(session=s, run_id=self.run_id, text=line))

    @contextmanager
    def stage(self, name: str):
        """Time a stage: progress[name] gets started/seconds/status."""
        self.progress(name, force=True, status="running")
        self.log(f"stage {name} started")
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.timings[name] = round(time.monotonic() - started, 1)
            self.progress(name, force=True, status="failed", seconds=self.timings[name])
            raise
        self.timings[name] = round(time.monotonic() - started, 1)
        self.progress(name, force=True, status="done", seconds=self.timings[name])
        self.log(f"stage {name} done in {self.timings[name]} s")

    def finish(self, *, ok: bool, error: str | None = None, candidate_id: str | None = None) -> None:
        """Close the run."""
        run_in_transaction(self.db, lambda s: finish_run(session=s, run_id=self.run_id,
                                                         status="succeeded" if ok else "failed", error=error,
                                                         candidate_checkpoint_id=candidate_id))
