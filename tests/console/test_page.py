"""Console handlers: every one re-checks the operator role; promote/rollback record and switch."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from feedback.models import Promotion
from mathchat.settings import CritiqueSettings
from console.page import ConsoleActions, NotOperator, build_console
from tests.fakes import BASE_ID, CAND_ID, OPERATOR, STUDENT, FakeAuth, FakeSync, make_loop, request_as

@pytest.fixture
def console(db: Engine, tmp_path: Path) -> tuple[ConsoleActions, FakeSync, list[str]]:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    sync, launched = FakeSync(), []
    settings = SimpleNamespace(vllm=SimpleNamespace(startup_timeout_s=60.0), critique=CritiqueSettings(),
                               model=SimpleNamespace(path="a-configured-model"))  # no shipped verifier
    actions = ConsoleActions(settings, db, sync, FakeAuth(),  # type: ignore[arg-type]
                             start_cycle=lambda: launched.append("cycle") or 4242)
    return actions, sync, launched


def promotions(db: Engine) -> list[Promotion]:  # noqa: F811
    with Session(db) as s:
        return list(s.scalars(select(Promotion).order_by(Promotion.id)))


CALLS = {
    "runs": lambda a, r: a.runs(None, r),
    "start_cycle": lambda a, r: a.start_cycle(r),
    "datasets": lambda a, r: a.datasets(r),
    "dataset": lambda a, r: a.dataset(None, r),
    "checkpoints": lambda a, r: a.checkpoints(r),
    "candidate": lambda a, r: a.candidate(None, r),
    "feedback": lambda a, r: a.feedback(30, r),
    "promote_panel": lambda a, r: a.promote_panel(r),
    "gate": lambda a, r: a.gate(CAND_ID, r),
    "promote": lambda a, r: list(a.promote(CAND_ID, True, r)),
    "rollback": lambda a, r: list(a.rollback(r)),
}


@pytest.mark.parametrize("user", [STUDENT, None], ids=["student", "anonymous"])
@pytest.mark.parametrize("name", list(CALLS))
def test_every_handler_refuses_non_operators(console, db: Engine, name: str, user) -> None:  # noqa: ANN001, F811
    actions, sync, launched = console
    with pytest.raises(NotOperator):
        CALLS[name](actions, request_as(user))
    assert promotions(db) == [] and sync.calls == [] and launched == []


def test_handler_refuses_a_request_without_http_request(console) -> None:  # noqa: ANN001
    with pytest.raises(NotOperator):
        console[0].runs(None, None)


@pytest.mark.parametrize("name", list(CALLS))
def test_every_handler_answers_an_operator(console, name: str) -> None:  # noqa: ANN001
    assert CALLS[name](console[0], request_as(OPERATOR)) is not None


def test_runs_handler_returns_progress_and_log(console) -> None:  # noqa: ANN001
    _choices, runs, summary, progress, _fig, log, manifest = console[0].runs(None, request_as(OPERATOR))
    assert isinstance(runs, pd.DataFrame) and len(runs) == 1
    assert "sample_live" in summary and list(progress["stage"]) == ["pool", "sample_live"]
    assert "step 2 loss 1.5" in log and len(manifest["datasets"]) == 2


def test_promote_panel_shows_the_automatic_flag_and_the_live_lineage(console, db: Engine) -> None:  # noqa: ANN001, F811
    from feedback import registry

    with Session(db) as s, s.begin():
        registry.update_checkpoint(session=s, checkpoint_id=CAND_ID, gate_passed=True)
        registry.record_promotion(session=s, to_id=CAND_ID, by_user="training", automatic=True)
    _status, _choices, trail, chain, lineage = console[0].promote_panel(request_as(OPERATOR))
    assert list(trail["automatic"]) == ["yes"] and list(lineage["automatic"]) == ["yes"]
    assert list(lineage["to"]) == [CAND_ID] and f"**{CAND_ID}**" in chain and "automatic" in chain


def test_runs_summary_says_what_auto_promote_did(console, db: Engine) -> None:  # noqa: ANN001, F811
    from feedback import registry

    with Session(db) as s, s.begin():
        run = registry.list_runs(session=s)[0]
        registry.update_run_stage(session=s, run_id=run.id, stage="auto_promote", progress={
            "status": "not promoted", "promoted": False, "reason": "gate failed: an operator may still promote it",
            "candidate_id": CAND_ID, "live_id": BASE_ID})
    _choices, _runs, summary, progress, *_ = console[0].runs(None, request_as(OPERATOR))
    assert "**Auto-promote:** not promoted: gate failed" in summary
    assert list(progress["stage"])[-1] == "auto_promote"


def test_start_cycle_calls_the_launcher_once(console) -> None:  # noqa: ANN001
    actions, _sync, launched = console
    assert "4242" in actions.start_cycle(request_as(OPERATOR)) and launched == ["cycle"]


def test_promote_with_failed_gate_needs_override(console, db: Engine) -> None:  # noqa: ANN001, F811
    actions, sync, _ = console
    out = list(actions.promote(CAND_ID, False, request_as(OPERATOR)))
    assert out[-1].startswith("**Not promoted:**") and "override" in out[-1]
    assert promotions(db) == [] and sync.calls == []


def test_promote_with_override_records_it_switches_and_shows_the_report(
        console, db: Engine) -> None:  # noqa: ANN001, F811
    actions, sync, _ = console
    out = list(actions.promote(CAND_ID, True, request_as(OPERATOR)))
    assert "Switching" in out[0]
    assert "gate overridden" in out[-1] and "12.5 s" in out[-1] and "in flight at the flip: 3" in out[-1]
    [p] = promotions(db)
    assert (p.action, p.from_id, p.to_id, p.by_user, p.override) == ("promote", BASE_ID, CAND_ID, "admin", True)
    assert sync.calls == [("request_switch", CAND_ID), ("wait_for", CAND_ID)]


def test_promote_whose_switch_fails_says_so_and_what_is_still_served(console) -> None:  # noqa: ANN001
    actions, sync, _ = console
    sync.fail_next = True
    out = list(actions.promote(CAND_ID, True, request_as(OPERATOR)))
    assert "**Switch failed:** the new server did not start" in out[-1] and f"still serving **{BASE_ID}**" in out[-1]


def test_rollback_returns_to_previous_live_and_switches(console, db: Engine) -> None:  # noqa: ANN001, F811
    actions, sync, _ = console
    list(actions.promote(CAND_ID, True, request_as(OPERATOR)))
    out = list(actions.rollback(request_as(OPERATOR)))
    assert f"→ **{BASE_ID}**" in out[-1]
    assert [(p.action, p.to_id) for p in promotions(db)] == [("promote", CAND_ID), ("rollback", BASE_ID)]
    assert sync.calls[-2:] == [("request_switch", BASE_ID), ("wait_for", BASE_ID)]


def test_rollback_without_earlier_live_says_so(console, db: Engine) -> None:  # noqa: ANN001, F811
    out = list(console[0].rollback(request_as(OPERATOR)))
    assert out == ["**Not rolled back:** There is no earlier live checkpoint to roll back to."]
    with Session(db) as s:
        assert s.scalar(select(func.count(Promotion.id))) == 0


def test_build_console_returns_blocks_with_named_endpoints(console) -> None:  # noqa: ANN001
    actions = console[0]
    blocks = build_console(actions.settings, actions.db, actions.sync, actions.auth, actions=actions)
    assert isinstance(blocks, gr.Blocks)
    names = {d.api_name for d in blocks.fns.values()}
    assert {"promote", "rollback", "runs", "candidate", "feedback", "start_cycle"} <= names
