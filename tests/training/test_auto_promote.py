"""training/auto_promote.py: a candidate that passed its gate goes live, recorded as automatic; otherwise why not."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from feedback import registry
from feedback.db import run_in_transaction, session_scope
from feedback.models import Promotion
from training.auto_promote import AUTO_PROMOTER, NO_CANDIDATE, OFF, promote_if_passed


@pytest.fixture
def loop(db):
    """A live base and two candidates of one cycle's kind: one passed its gate, one failed it."""
    def work(s) -> None:  # noqa: ANN001
        registry.register_checkpoint(session=s, checkpoint_id="base", path="/m/base", kind="base", status="live",
                                     gate_passed=True)
        for ckpt, passed in (("rft-good", True), ("rft-bad", False)):
            registry.register_checkpoint(session=s, checkpoint_id=ckpt, path=f"/m/{ckpt}", kind="rft",
                                         parent_id="base", gate_passed=passed, metrics={"run_id": 1, "acc": 0.2})

    run_in_transaction(db, work)
    return db


def _promotions(db) -> list[Promotion]:  # noqa: ANN001
    with session_scope(db) as s:
        rows = list(s.scalars(select(Promotion).order_by(Promotion.id)))
        s.expunge_all()
        return rows


def _statuses(db) -> dict[str, str]:  # noqa: ANN001
    with session_scope(db) as s:
        return {c.id: c.status for c in registry.list_checkpoints(session=s)}


def test_off_promotes_nothing(loop) -> None:
    outcome = promote_if_passed(loop, "rft-good", enabled=False, started_from="base")
    assert (outcome.promoted, outcome.reason) == (False, OFF)
    assert _promotions(loop) == [] and _statuses(loop)["base"] == "live"


def test_a_passed_candidate_goes_live_and_the_base_retires(loop) -> None:
    outcome = promote_if_passed(loop, "rft-good", enabled=True, started_from="base")
    assert (outcome.promoted, outcome.candidate_id, outcome.live_id) == (True, "rft-good", "base")
    [row] = _promotions(loop)
    assert (row.action, row.from_id, row.to_id, row.by_user) == ("promote", "base", "rft-good", AUTO_PROMOTER)
    assert row.automatic is True and row.override is False and row.evaluation == {"run_id": 1, "acc": 0.2}
    assert _statuses(loop) == {"base": "retired", "rft-good": "live", "rft-bad": "candidate"}


def test_a_failed_gate_is_not_promoted_and_says_so(loop) -> None:
    outcome = promote_if_passed(loop, "rft-bad", enabled=True, started_from="base")
    assert not outcome.promoted and outcome.reason.startswith("gate failed")
    assert outcome.live_id == "base" and _promotions(loop) == [] and _statuses(loop)["base"] == "live"


def test_no_candidate_is_not_promoted(loop) -> None:
    assert promote_if_passed(loop, None, enabled=True, started_from="base").reason == NO_CANDIDATE


def test_a_live_checkpoint_changed_during_the_cycle_keeps_the_operators_choice(loop) -> None:
    run_in_transaction(loop, lambda s: registry.record_promotion(session=s, to_id="rft-bad", by_user="olga",
                                                                 override=True))
    outcome = promote_if_passed(loop, "rft-good", enabled=True, started_from="base")
    assert not outcome.promoted and "live checkpoint changed" in outcome.reason and outcome.live_id == "rft-bad"
    assert [p.to_id for p in _promotions(loop)] == ["rft-bad"] and _statuses(loop)["rft-bad"] == "live"


def test_a_candidate_an_operator_rejected_is_not_promoted(loop) -> None:
    run_in_transaction(loop, lambda s: registry.update_checkpoint(session=s, checkpoint_id="rft-good",
                                                                  status="rejected"))
    outcome = promote_if_passed(loop, "rft-good", enabled=True, started_from="base")
    assert not outcome.promoted and "rejected" in outcome.reason and _promotions(loop) == []
