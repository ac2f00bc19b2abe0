"""Races on the registry, on SQLite and the real PostgreSQL: two promotions at once leave one live checkpoint,
two cycles starting at once leave one run, and the database itself refuses a second live or running row."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from feedback import registry
from feedback.db import run_in_transaction, session_scope
from feedback.errors import InvalidInput, StoreUnavailable
from feedback.models import Checkpoint, TrainingRun
from console.promotion import promote


def register(engine: Engine, *ids: str) -> None:
    def work(s):  # noqa: ANN001, ANN202
        registry.register_checkpoint(session=s, checkpoint_id="base", path="/m/base", kind="base", status="live",
                                  gate_passed=True)
        for checkpoint_id in ids:
            registry.register_checkpoint(session=s, checkpoint_id=checkpoint_id, path=f"/m/{checkpoint_id}", kind="rft",
                                      gate_passed=True)

    run_in_transaction(engine, work)


def live_ids(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        return sorted(s.scalars(select(Checkpoint.id).where(Checkpoint.status == "live")))


def test_the_database_refuses_a_second_live_checkpoint_in_a_family(fresh_engine: Engine) -> None:
    register(fresh_engine, "rft-1")
    with pytest.raises(IntegrityError):
        with session_scope(fresh_engine) as s:
            s.execute(text("UPDATE checkpoints SET status = 'live' WHERE id = 'rft-1'"))
    run_in_transaction(fresh_engine, lambda s: registry.register_checkpoint(
        session=s, checkpoint_id="critic-1", path="/m/c", kind="critic", status="live"))  # another family: fine
    assert live_ids(fresh_engine) == ["base", "critic-1"]


def test_the_database_refuses_a_second_running_training_run(fresh_engine: Engine) -> None:
    with session_scope(fresh_engine) as s:
        first = registry.create_run(session=s)
        registry.update_run_stage(session=s, run_id=first.id, stage="start")
    with pytest.raises(IntegrityError):
        with session_scope(fresh_engine) as s:
            second = registry.create_run(session=s)
            registry.update_run_stage(session=s, run_id=second.id, stage="start")


def test_concurrent_promotions_leave_exactly_one_live_checkpoint(fresh_engine: Engine) -> None:
    rounds = 6
    register(fresh_engine, *(f"rft-{r}-{i}" for r in range(rounds) for i in range(2)))
    for r in range(rounds):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def attempt(checkpoint_id: str) -> None:
            barrier.wait()
            try:
                promote(fresh_engine, checkpoint_id, by_user="olga")
                outcomes.append("ok")
            except (InvalidInput, StoreUnavailable, IntegrityError) as exc:
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=attempt, args=(f"rft-{r}-{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        live = live_ids(fresh_engine)
        assert len(live) == 1, (r, live, outcomes)
        with session_scope(fresh_engine) as s:  # the audit trail chains: each promotion names the one before
            chain = [(p.from_id, p.to_id) for p in reversed(registry.list_promotions(session=s))]
        assert all(a[1] == b[0] for a, b in zip(chain, chain[1:])), chain


def test_two_cycles_starting_together_create_one_run(fresh_engine: Engine) -> None:
    from training.run_record import CycleBusy, RunRecorder

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start() -> None:
        barrier.wait()
        try:
            RunRecorder.start(fresh_engine, trigger="manual", config={}, log_path=None)
            outcomes.append("started")
        except (CycleBusy, StoreUnavailable, IntegrityError) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with session_scope(fresh_engine) as s:
        active = s.scalars(select(TrainingRun).where(TrainingRun.status.in_(("queued", "running")))).all()
    assert len(active) == 1 and outcomes.count("started") == 1, outcomes
