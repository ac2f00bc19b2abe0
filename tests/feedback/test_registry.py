"""feedback/registry.py: checkpoints, promotion/rollback, training runs, datasets."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from feedback import registry
from feedback.errors import InvalidInput


def _register(session: Session, checkpoint_id: str, kind: str = "rft", gate: bool | None = True, **kw) -> None:
    registry.register_checkpoint(
        session=session, checkpoint_id=checkpoint_id, path=f"/ckpt/{checkpoint_id}", kind=kind, gate_passed=gate, **kw
    )


def _statuses(session: Session) -> dict[str, str]:
    return {c.id: c.status for c in registry.list_checkpoints(session=session)}


def test_base_can_be_registered_live_once(session: Session) -> None:
    _register(session, "base-smollm2-135m", kind="base", status="live")
    assert registry.get_live_checkpoint(session=session).id == "base-smollm2-135m"
    with pytest.raises(InvalidInput, match="already live"):
        _register(session, "base-other", kind="base", status="live")


def test_register_is_idempotent_only_with_exist_ok(session: Session) -> None:
    _register(session, "rft-1")
    assert registry.register_checkpoint(
        session=session, checkpoint_id="rft-1", path="/elsewhere", kind="rft", exist_ok=True
    ).path == "/ckpt/rft-1"
    with pytest.raises(InvalidInput, match="already registered"):
        _register(session, "rft-1")


def test_promotion_flips_live_and_retires_the_old_one(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    _register(session, "rft-1", parent_id="base")
    promotion = registry.record_promotion(session=session, to_id="rft-1", by_user="op", evaluation={"acc": 0.13})
    assert (promotion.from_id, promotion.to_id, promotion.action) == ("base", "rft-1", "promote")
    assert _statuses(session) == {"base": "retired", "rft-1": "live"}
    assert registry.get_live_checkpoint(session=session).id == "rft-1"


def test_rollback_returns_to_the_previous_live_and_rejects_the_bad_one(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    _register(session, "rft-1")
    _register(session, "rft-2")
    registry.record_promotion(session=session, to_id="rft-1", by_user="op")
    registry.record_promotion(session=session, to_id="rft-2", by_user="op")
    previous = registry.previous_live_checkpoint(session=session)
    assert previous.id == "rft-1"
    registry.record_promotion(session=session, to_id=previous.id, by_user="op", action="rollback")
    assert _statuses(session) == {"base": "retired", "rft-1": "live", "rft-2": "rejected"}
    assert registry.previous_live_checkpoint(session=session).id == "base"
    assert [p.action for p in registry.list_promotions(session=session)] == ["rollback", "promote", "promote"]


def test_promotion_without_passed_gate_needs_override(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    _register(session, "dpo-1", kind="dpo", gate=False)
    with pytest.raises(InvalidInput, match="gate"):
        registry.record_promotion(session=session, to_id="dpo-1", by_user="op")
    assert _statuses(session)["base"] == "live"
    promotion = registry.record_promotion(session=session, to_id="dpo-1", by_user="op", override=True)
    assert promotion.override and _statuses(session)["dpo-1"] == "live"


def test_an_operators_promotion_is_not_automatic(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    _register(session, "rft-1")
    assert registry.record_promotion(session=session, to_id="rft-1", by_user="op").automatic is False


def test_an_automatic_promotion_is_recorded_as_automatic(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    _register(session, "rft-1")
    promotion = registry.record_promotion(session=session, to_id="rft-1", by_user="training", automatic=True)
    assert (promotion.automatic, promotion.override) == (True, False)
    assert registry.PromotionResult.of(promotion) == registry.PromotionResult("promote", "base", "rft-1", False, True)
    session.expire_all()
    assert registry.list_promotions(session=session)[0].automatic is True


def test_an_automatic_promotion_never_overrides_the_gate(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    _register(session, "dpo-1", gate=False)
    for override in (False, True):
        with pytest.raises(InvalidInput, match="gate|only an operator"):
            registry.record_promotion(session=session, to_id="dpo-1", by_user="training", automatic=True,
                                      override=override)
    assert _statuses(session) == {"base": "live", "dpo-1": "candidate"}


def test_promoting_the_live_checkpoint_is_refused(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    with pytest.raises(InvalidInput, match="already live"):
        registry.record_promotion(session=session, to_id="base", by_user="op")


def test_critic_and_policy_have_separate_live_slots(session: Session) -> None:
    _register(session, "base", kind="base", status="live")
    _register(session, "critic-1", kind="critic")
    registry.record_promotion(session=session, to_id="critic-1", by_user="op")
    assert registry.get_live_checkpoint(session=session).id == "base"
    assert registry.get_live_checkpoint(session=session, family="critic").id == "critic-1"


def test_update_checkpoint_records_gate_and_merges_metrics(session: Session) -> None:
    _register(session, "rft-1", gate=None, metrics={"loss": 0.5})
    checkpoint = registry.update_checkpoint(session=session, checkpoint_id="rft-1", gate_passed=True, metrics={"acc": 0.2})
    assert checkpoint.gate_passed is True and checkpoint.metrics == {"loss": 0.5, "acc": 0.2}
    assert registry.update_checkpoint(session=session, checkpoint_id="rft-1", status="rejected").status == "rejected"


def test_run_lifecycle_tracks_stages_progress_and_log(session: Session) -> None:
    run = registry.create_run(session=session, trigger="schedule", config={"k": 4})
    assert registry.get_active_run(session=session).id == run.id
    registry.update_run_stage(session=session, run_id=run.id, stage="sample", progress={"done": 1, "total": 8})
    registry.update_run_stage(session=session, run_id=run.id, stage="sample", progress={"done": 8})
    registry.update_run_stage(session=session, run_id=run.id, stage="rft", progress={"step": 1})
    registry.append_run_log(session=session, run_id=run.id, text="sampling...\n")
    registry.append_run_log(session=session, run_id=run.id, text="training...\n")
    _register(session, "rft-9")
    done = registry.finish_run(session=session, run_id=run.id, status="succeeded", candidate_checkpoint_id="rft-9")
    assert done.status == "succeeded" and done.started_at is not None and done.finished_at is not None
    assert done.progress == {"sample": {"done": 8, "total": 8}, "rft": {"step": 1}}
    assert done.log == "sampling...\ntraining...\n"
    assert done.candidate_checkpoint_id == "rft-9"
    assert registry.get_active_run(session=session) is None
    with pytest.raises(InvalidInput, match="already finished"):
        registry.update_run_stage(session=session, run_id=run.id, stage="late")


def test_failed_run_keeps_its_error(session: Session) -> None:
    run = registry.create_run(session=session)
    run = registry.finish_run(session=session, run_id=run.id, status="failed", error="OOM in dpo")
    assert (run.status, run.error) == ("failed", "OOM in dpo")
    assert [r.id for r in registry.list_runs(session=session)] == [run.id]


def test_datasets_are_recorded_per_run(session: Session) -> None:
    run = registry.create_run(session=session)
    registry.record_dataset(session=session, kind="rft", path="/d/rft.jsonl", count=12, content_hash="ab", run_id=run.id)
    registry.record_dataset(session=session, kind="dpo", path="/d/dpo.jsonl", count=3, content_hash="cd", run_id=run.id)
    assert [d.kind for d in registry.list_datasets(session=session, run_id=run.id)] == ["dpo", "rft"]
    assert [d.count for d in registry.list_datasets(session=session, kind="rft")] == [12]
    with pytest.raises(InvalidInput):
        registry.record_dataset(session=session, kind="weird", path="/d/x", count=0, content_hash="")


def test_verifiers_have_their_own_live_slot(session) -> None:
    from feedback.registry import get_live_checkpoint, record_promotion, register_checkpoint

    register_checkpoint(session=session, checkpoint_id="base", path="/m", kind="base", status="live")
    register_checkpoint(session=session, checkpoint_id="verifier-1", path="/v", kind="verifier", gate_passed=True,
                        metrics={"held_out_auroc": 0.9})
    record_promotion(session=session, to_id="verifier-1", by_user="training")
    assert get_live_checkpoint(session=session, family="verifier").id == "verifier-1"
    assert get_live_checkpoint(session=session).id == "base"


def test_fresh_database_gets_the_base_model_live(session: Session) -> None:
    live = registry.ensure_live_checkpoint(session=session, base_id="base-x", base_path="/models/base",
                                           by_user="system", config={"source": "embedded-default"})
    assert (live.id, live.status, live.kind, live.gate_passed) == ("base-x", "live", "base", True)
    again = registry.ensure_live_checkpoint(session=session, base_id="other", base_path="/elsewhere",
                                            by_user="training")
    assert again.id == "base-x"


def test_a_base_left_without_a_live_checkpoint_is_restored_by_a_rollback(session: Session) -> None:
    registry.ensure_live_checkpoint(session=session, base_id="base-x", base_path="/models/base", by_user="system")
    registry.get_live_checkpoint(session=session).status = "rejected"  # everything rolled back
    session.flush()
    live = registry.ensure_live_checkpoint(session=session, base_id="base-x", base_path="/new", by_user="training")
    assert (live.id, live.path, live.status) == ("base-x", "/models/base", "live")
    promotion = registry.list_promotions(session=session)[0]
    assert (promotion.action, promotion.to_id, promotion.by_user) == ("rollback", "base-x", "training")
    assert promotion.automatic  # no person decided it
