"""LiveModelSync: whoever performs a switch (a promote request or the watcher's loop), its status and report
are the same; a failed switch says so; waiting never returns "nothing happened"."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from feedback import registry
from feedback.db import make_engine, run_in_transaction, upgrade_db
from serving.factory import PolicyRuntime
from serving.live_model import LiveModelSync, SwitchableEngine
from console.promotion import promote
from serving.vllm_supervisor import SwitchReport
from tests.fakes import FakeEngine


class SlowSupervisor:
    """Stands in for VLLMSupervisor.switch: blocks until released, then reports (or fails)."""

    def __init__(self, fail: bool = False) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.fail = fail
        self.switches: list[str] = []

    def switch(self, path: str, checkpoint_id: str) -> SwitchReport:
        self.started.set()
        assert self.release.wait(30), "test never released the switch"
        if self.fail:
            raise RuntimeError("the new server did not start")
        self.switches.append(checkpoint_id)
        return SwitchReport("base", checkpoint_id, start_s=1.25, drain_s=0.5)


@pytest.fixture
def db(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade_db(url)
    engine = make_engine(url)
    for ckpt, status in (("base", "live"), ("rft-1", "candidate")):
        run_in_transaction(engine, lambda s, c=ckpt, st=status: registry.register_checkpoint(
            session=s, checkpoint_id=c, path=f"/m/{c}", kind="base" if c == "base" else "rft", status=st,
            gate_passed=True))
    yield engine
    engine.dispose()


def make_sync(db, supervisor: SlowSupervisor) -> LiveModelSync:  # noqa: ANN001
    engine = SwitchableEngine(FakeEngine(checkpoint_id="base"))
    runtime = PolicyRuntime(engine=engine, supervisor=supervisor)  # type: ignore[arg-type]
    return LiveModelSync(None, db, runtime, engine, served_id="base")  # type: ignore[arg-type]


def test_status_after_the_loop_switched_first_still_carries_the_report(db) -> None:  # noqa: ANN001
    supervisor = SlowSupervisor()
    sync = make_sync(db, supervisor)
    promote(db, "rft-1", by_user="olga")
    supervisor.release.set()
    assert sync.sync() is not None  # the loop's tick performs the switch
    status = sync.request_switch("rft-1")  # the request's own sync finds nothing left to do
    assert status.state == "done" and status.report is not None and status.report.to_checkpoint == "rft-1"
    assert sync.wait_for("rft-1", 5).as_dict()["report"]["start_s"] == 1.25
    assert supervisor.switches == ["rft-1"]


def test_status_is_switching_while_the_server_starts_then_done(db) -> None:  # noqa: ANN001
    supervisor = SlowSupervisor()
    sync = make_sync(db, supervisor)
    assert sync.status("rft-1").state == "pending"
    promote(db, "rft-1", by_user="olga")
    sync.request_switch("rft-1")
    assert supervisor.started.wait(10)
    assert sync.status("rft-1").state == "switching" and sync.status("rft-1").served == "base"
    assert sync.wait_for("rft-1", 0.2).state == "switching"  # times out without pretending it finished
    supervisor.release.set()
    done = sync.wait_for("rft-1", 10)
    assert (done.state, done.served, done.report.to_checkpoint) == ("done", "rft-1", "rft-1")


def test_failed_switch_is_reported_and_retried_on_the_next_request(db) -> None:  # noqa: ANN001
    supervisor = SlowSupervisor(fail=True)
    sync = make_sync(db, supervisor)
    promote(db, "rft-1", by_user="olga")
    supervisor.release.set()
    sync.request_switch("rft-1")
    failed = sync.wait_for("rft-1", 10)
    assert failed.state == "failed" and "did not start" in failed.error and failed.served == "base"
    assert sync.sync() is None, "the loop does not retry a failed checkpoint by itself"
    supervisor.fail = False
    sync.request_switch("rft-1")
    assert sync.wait_for("rft-1", 10).state == "done"
