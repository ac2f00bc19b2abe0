"""Reading evaluation metrics and report files; candidate vs live comparisons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from feedback.db import run_in_transaction
from console import evaluation as ev
from feedback.reads import CheckpointInfo, get_checkpoint_info
from tests.fakes import BASE_ID, CAND_ID, block, make_loop

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def ck(checkpoint_id: str, metrics: dict | None, gate_passed: bool | None = None) -> CheckpointInfo:
    return CheckpointInfo(checkpoint_id, None, "rft", "candidate", gate_passed, metrics, "", T0)


def test_find_summary_accepts_the_report_shapes() -> None:
    summary = {"overall": block(4, 1, 5.0, 0.0, 0.7), "per_category": {}}
    for metrics in ({"summary": summary}, {"eval": {"summary": summary}}, {"report": {"summary": summary}}, summary):
        assert ev.find_summary(metrics)["overall"]["n"] == 4
    assert ev.find_summary(None) is None and ev.find_summary({"eval": {"loss": 1}}) is None


def test_read_eval_items_reads_combined_and_single_reports_and_skips_missing(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"reports": [{"checkpoint_id": "x", "items": [{"q": 1}]},
                                                             {"checkpoint_id": "y", "items": [{"q": 2}]}]}))
    (tmp_path / "b.json").write_text(json.dumps({"checkpoint_id": "z", "items": [{"q": 3}]}))
    (tmp_path / "bad.json").write_text("{not json")
    found = ev.read_eval_items([tmp_path / "missing.json", tmp_path / "bad.json", tmp_path / "a.json",
                                tmp_path / "b.json"])
    assert found == {"x": [{"q": 1}], "y": [{"q": 2}], "z": [{"q": 3}]}


def test_evaluation_items_find_the_runs_report_beside_its_datasets(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    cand = run_in_transaction(db, lambda s: get_checkpoint_info(session=s, checkpoint_id=CAND_ID))
    paths = run_in_transaction(db, lambda s: ev.eval_report_paths(session=s, checkpoint=cand))
    assert paths == [str(loop.run_dir / "eval.json")]
    items = run_in_transaction(db, lambda s: ev.evaluation_items(session=s, checkpoint=cand))
    assert set(items) == {BASE_ID, CAND_ID} and len(items[CAND_ID]) == 3


def test_report_path_in_metrics_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"checkpoint_id": "c", "items": [{"score": 4}]}))
    assert ev.read_eval_items([ev.report_path({"eval": {"report_path": str(path)}})]) == {"c": [{"score": 4}]}


def test_evaluation_table_without_live_shows_dashes() -> None:
    cand = ck("c", {"eval": {"summary": {"overall": block(10, 3, 6.0, 0.1, 0.6), "per_category": {}}}})
    rows = {r[0]: r[1:] for r in ev.evaluation_table(cand, None).rows}
    assert rows["strict accuracy"] == ["30.0%", "-", ""]
    assert rows["strict accuracy 95% CI"][0] == "10.0%–60.0%"


def test_side_by_side_limits_rows_and_skips_unmatched() -> None:
    def it(i: int, ok: bool) -> dict:
        return {"source": "s", "question_id": i, "question": f"q{i}", "answer": "a", "strict_correct": ok}

    table = ev.side_by_side([it(i, True) for i in range(5)] + [it(99, True)], [it(i, i % 2 == 0) for i in range(5)],
                            limit=3)
    assert [r[0] for r in table.rows] == ["q1", "q3", "q0"]  # disagreements first, q99 has no partner


def test_gate_markdown_lists_reasons_and_figures(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    text = ev.gate_markdown(run_in_transaction(db, lambda s: get_checkpoint_info(session=s, checkpoint_id=CAND_ID)))
    assert "failed" in text and "below the margin" in text and "McNemar p = 1" in text and "perplexity x1.010" in text
    passed = ev.gate_markdown(ck("p", {"gate": {"promotable": True, "reasons": ["+0.1"]}}, gate_passed=True))
    assert "passed" in passed and "override" not in passed


def test_gate_markdown_names_the_failed_guard_and_by_how_much() -> None:
    from training.gate import gate

    def rep(correct: list[bool], ppl: float) -> dict:
        return {"items": [{"source": "s", "question_id": str(i), "strict_correct": c} for i, c in enumerate(correct)],
                "perplexity": ppl}

    decision = gate(rep([i < 40 for i in range(200)], 10.6), rep([i < 8 for i in range(200)], 10.0))
    text = ev.gate_markdown(ck("c", {"gate": decision.to_dict()}, gate_passed=False))
    lines = text.splitlines()
    assert lines[1] == "- ✗ **perplexity**: general-text perplexity rose +6.0%, over the +5.0% limit by 1.0 pts"
    assert any(line.startswith("- ✓ accuracy_margin: strict accuracy gain +0.160") for line in lines)
