"""The Confidence tab on a temp SQLite DB with verifier checkpoints registered as the cycle registers them
(metrics from the real ``confidence_evaluation`` of hand-written held-out rows; no model)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedback import registry
from feedback.db import run_in_transaction
from mathchat.settings import CritiqueSettings
from console import confidence
from console.page import ConsoleActions, NotOperator, build_console
from serving.critique.calibration import fit_calibration, save_calibration
from serving.critique.verifier import CALIBRATION_FILE
from tests.fakes import BASE_ID, OPERATOR, STUDENT, FakeAuth, FakeSync, make_loop, request_as
from training.verifier import calibration_rows, confidence_evaluation

OLD, LIVE, NEWEST = "verifier-r1-20261201-1200", "verifier-r2-20261202-1200", "verifier-r3-20261203-1200"


def held_out_rows(n: int = 40) -> list[dict]:
    return [{"id": f"r{i}", "question_id": f"q{i // 2}", "label": i % 3 == 0,
             "features": {"has_final": 1.0 if i % 3 == 0 or i % 2 else 0.0, "steps_checked": 1.0}} for i in range(n)]


def register_verifiers(db: Engine, folder: Path) -> dict:  # noqa: F811
    """Three verifiers: an old one evaluated before the confidence report existed (rejected), the live one, and
    a newer rejected one; the live one's folder holds its calibration file."""
    rows = held_out_rows()
    probs = [0.8 if r["label"] else 0.3 for r in rows]
    report = confidence_evaluation(rows, probs)
    calibration = fit_calibration(*calibration_rows(rows, probs), trained_on={"source": "held-out verifier rows",
                                                                              "rows": len(rows)})
    (folder / LIVE).mkdir(parents=True)
    save_calibration(calibration, folder / LIVE / CALIBRATION_FILE)
    held = {"n": 40, "right": 14, "auroc": 1.0, "false_confident": 0.0}
    with Session(db) as s, s.begin():
        registry.register_checkpoint(session=s, checkpoint_id=OLD, path=str(folder / OLD), kind="verifier",
                                     parent_id=BASE_ID, status="rejected", gate_passed=False,
                                     metrics={"held_out_auroc": 0.61, "held_out": {"n": 30, "right": 5, "auroc": 0.61},
                                              "gate": "held-out AUROC 0.610 does not beat the live verifier's 0.700"})
        registry.register_checkpoint(session=s, checkpoint_id=LIVE, path=str(folder / LIVE), kind="verifier",
                                     parent_id=BASE_ID, status="live", gate_passed=True,
                                     metrics={"held_out_auroc": 1.0, "held_out": held, "confidence": report,
                                              "calibration_version": calibration.version,
                                              "gate": "no verifier in use; held-out AUROC 1.000"})
        registry.register_checkpoint(session=s, checkpoint_id=NEWEST, path=str(folder / NEWEST), kind="verifier",
                                     parent_id=BASE_ID, status="rejected", gate_passed=False,
                                     metrics={"held_out_auroc": 1.0, "held_out": held, "confidence": report,
                                              "gate": "held-out AUROC 1.000 does not beat the live verifier's 1.000"})
    return {"report": report, "calibration": calibration}


def view(db: Engine, checkpoint_id: str | None = None, critique: CritiqueSettings | None = None):  # noqa: ANN201, F811
    return run_in_transaction(db, lambda s: confidence.build_confidence_view(session=s, checkpoint_id=checkpoint_id,
                                                                            critique=critique))


def test_the_table_lists_every_verifier_newest_first_with_its_measured_confidence(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    made = register_verifiers(db, tmp_path / "checkpoints")
    table = view(db).table
    assert table.headers == confidence.VERIFIER_HEADERS
    rows = {r[0]: dict(zip(table.headers, r)) for r in table.rows}
    assert [r[0] for r in table.rows] == [NEWEST, LIVE, OLD]
    live = rows[LIVE]
    calibrated = made["report"]["calibrated"]
    assert live["live"] == "yes" and live["held-out n (right)"] == "40 (14)" and live["AUROC"] == "1.000"
    assert live["ECE calibrated"] == f"{calibrated['ece']:.3f}" and live["calibrated AUROC"] == "1.000"
    assert live["ECE verifier"] == f"{made['report']['verifier']['ece']:.3f}"
    assert live["calibration"] == made["calibration"].version and live["gate"].startswith("no verifier in use")
    assert rows[OLD]["live"] == "rejected" and rows[OLD]["ECE calibrated"] == "-" and rows[OLD]["AUROC"] == "0.610"


def test_the_live_verifier_is_shown_by_default_with_both_reliability_series(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    made = register_verifiers(db, tmp_path / "checkpoints")
    v = view(db)
    assert v.selected.id == LIVE and v.choices()[0] == (f"{NEWEST} · rejected", NEWEST)
    series = confidence.reliability_series(v.selected)
    assert list(series) == list(confidence.SERIES.values())
    assert [b.n for b in series["verifier probability"]] == [b["n"] for b in made["report"]["verifier"]["bins"]]
    assert sum(b.n for b in series["calibrated confidence (the student's badge)"]) == 40
    assert f"{made['report']['calibrated']['ece']:.3f}" in confidence.reliability_title(v.selected)
    assert "never saw its question" in v.summary and "| calibrated confidence" in v.summary


def test_a_verifier_evaluated_before_the_report_existed_says_so(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    register_verifiers(db, tmp_path / "checkpoints")
    v = view(db, OLD)
    assert v.selected.id == OLD and "No out-of-sample confidence report" in v.summary
    assert confidence.reliability_series(v.selected) == {}


def test_the_app_calibration_is_the_live_verifiers_own(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    made = register_verifiers(db, tmp_path / "checkpoints")
    cal = view(db).app_calibration
    assert cal.version == made["calibration"].version and cal.source.startswith("the live verifier's own")
    assert cal.trained_on == {"n": 120, "source": "held-out verifier rows", "rows": 40}
    assert made["calibration"].version in confidence.app_calibration_markdown(cal)


def test_the_app_calibration_follows_the_settings_then_the_shipped_default(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    from serving.critique.calibration import load_calibration

    make_loop(db, tmp_path / "run-00001")
    register_verifiers(db, tmp_path / "checkpoints")
    assert view(db, critique=CritiqueSettings(use_verifier=False)).app_calibration.version == load_calibration().version
    (tmp_path / "broken.json").write_text("{}")
    broken = view(db, critique=CritiqueSettings(calibration_path=tmp_path / "broken.json")).app_calibration
    assert broken.error and "fallback" in broken.source


def test_without_verifiers_the_tab_says_how_one_appears(db: Engine) -> None:  # noqa: F811
    v = view(db)
    assert v.selected is None and v.table.rows == [] and "train_verifier" in v.summary
    assert v.app_calibration.source == "the shipped default (no verifier in use)"


@pytest.fixture
def actions(db: Engine, tmp_path: Path) -> ConsoleActions:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    register_verifiers(db, tmp_path / "checkpoints")
    settings = SimpleNamespace(vllm=SimpleNamespace(startup_timeout_s=60.0), critique=CritiqueSettings(),
                               model=SimpleNamespace(path="a-configured-model"))  # no shipped verifier
    return ConsoleActions(settings, db, FakeSync(), FakeAuth())  # type: ignore[arg-type]


@pytest.mark.parametrize("user", [STUDENT, None], ids=["student", "anonymous"])
def test_the_confidence_handler_refuses_non_operators(actions: ConsoleActions, user) -> None:  # noqa: ANN001
    with pytest.raises(NotOperator):
        actions.confidence(None, request_as(user))


def test_the_confidence_handler_gives_an_operator_the_table_plot_and_calibration(actions: ConsoleActions) -> None:
    picker, table, summary, fig, app_cal = actions.confidence(None, request_as(OPERATOR))
    assert isinstance(table, pd.DataFrame) and list(table["verifier"]) == [NEWEST, LIVE, OLD]
    assert LIVE in summary and "The app's calibration" in app_cal
    assert len(fig.axes) == 2 and len(fig.axes[0].containers) == 2  # one error-bar line per series
    assert [c[1] for c in picker["choices"]] == [NEWEST, LIVE, OLD]


def test_the_console_has_a_confidence_endpoint(actions: ConsoleActions) -> None:
    blocks = build_console(actions.settings, actions.db, actions.sync, actions.auth, actions=actions)
    assert "confidence" in {d.api_name for d in blocks.fns.values()}


def test_with_no_live_verifier_the_app_calibration_is_the_shipped_verifiers(db: Engine) -> None:  # noqa: F811
    from serving.critique.calibration import load_calibration
    from serving.critique.default_verifier import SHIPPED_DIR

    cal = run_in_transaction(db, lambda s: confidence.build_confidence_view(
        session=s, checkpoint_id=None, critique=CritiqueSettings(), shipped_verifier_path=str(SHIPPED_DIR))).app_calibration
    assert cal.source.startswith("the shipped default verifier's own")
    assert cal.version == load_calibration(SHIPPED_DIR / "calibration.json").version
