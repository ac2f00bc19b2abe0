"""The console's panel views on a temp SQLite DB with hand-made rows and the files a cycle writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedback import registry, store
from feedback.db import run_in_transaction
from console import run_files, tables
from console import views
from serving.critique.types import CritiqueResult
from tests.fakes import make_chat
from tests.fakes import BASE_ID, CAND_ID, make_loop


def read(db: Engine, fn, **kwargs):  # noqa: ANN001, ANN201, F811
    return run_in_transaction(db, lambda s: fn(session=s, **kwargs))


def test_run_view_shows_newest_run_with_progress_datasets_and_log_files(
        db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    view = read(db, views.build_run_view)
    assert view.run is not None and view.run.id == loop.run_id
    assert view.choices() == [(f"run {loop.run_id} · running · sample_live", loop.run_id)]
    progress = tables.progress_table(view.run.progress)
    assert [row[0] for row in progress.rows] == ["pool", "sample_live"]
    assert progress.rows[1][1:5] == ["running", 40, 128, "31%"]
    assert tables.stage_timings(view.run.progress) == [("pool", 1.5, "done")]
    log = run_files.run_log_tail(view.run)
    assert "stage pool started" in log and "step 2 loss 1.5" in log
    manifest = tables.run_manifest(view.run)
    assert {d["kind"] for d in manifest["datasets"]} == {"rft", "dpo"}
    assert manifest["config"] == {"k": 4}


def test_run_view_without_runs_is_empty(db: Engine) -> None:  # noqa: F811
    view = read(db, views.build_run_view)
    assert view.run is None and view.runs == []


def test_dataset_view_of_rft_shows_first_rows_and_sample_scores(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    view = read(db, views.build_dataset_view, dataset_id=loop.rft_dataset_id)
    assert view.scores == {"samples_live": [float(s) for s in loop.live_scores]}
    assert view.examples.headers == ["question", "answer"] and len(view.examples.rows) == 5  # first 5 of 7


def test_dataset_view_defaults_to_the_newest_dataset(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    view = read(db, views.build_dataset_view, dataset_id=None)
    assert view.dataset.id == loop.dpo_dataset_id
    assert view.examples.rows == [["2 + 3 = ?", "The answer is 5.", "The answer is 6."]]
    assert view.scores == {}  # samples_rft.jsonl was not written


def test_candidate_view_compares_newest_candidate_with_live(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    view = read(db, views.build_candidate_view, checkpoint_id=None)
    assert view.candidate.id == CAND_ID and view.live.id == BASE_ID and view.comparison_id == BASE_ID
    rows = {r[0]: r[1:] for r in view.table.rows}
    assert rows["critique mean (1-10)"] == ["6.70", "6.30", "+0.40"]
    assert rows["perplexity (general text)"][2] == "x1.010"
    assert rows["sub: strict accuracy"] == ["-", "0.0%", ""]
    assert view.categories == {f"candidate {CAND_ID}": {"add": 2 / 3}, f"live {BASE_ID}": {"add": 2 / 3, "sub": 0.0}}
    assert [p.checkpoint_id for p in view.lineage] == [BASE_ID, CAND_ID]
    assert view.scores == {f"candidate {CAND_ID}": [9.0, 8.0, 3.0], f"live {BASE_ID}": [9.0, 2.0, 8.0]}
    # the two questions where exactly one was right come first
    assert [r[0] for r in view.answers.rows] == ["2 + 1 = ?", "3 + 1 = ?", "1 + 1 = ?"]
    assert view.answers.rows[0][3:] == ["✓ 8", "4", "✗ 2"]
    assert "failed" in view.gate and "override" in view.gate


def test_candidate_view_without_report_file_still_shows_the_table(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    (loop.run_dir / "eval.json").unlink()
    view = read(db, views.build_candidate_view, checkpoint_id=CAND_ID)
    assert view.comparison_id is None and view.answers.rows == [] and view.scores == {}
    assert any(r[0] == "strict accuracy" for r in view.table.rows)


def test_candidate_view_with_no_checkpoints_is_empty(db: Engine) -> None:  # noqa: F811
    view = read(db, views.build_candidate_view, checkpoint_id=None)
    assert view.candidate is None and view.live is None and view.lineage == [] and view.answers.rows == []


def _critique(score: int) -> CritiqueResult:
    return CritiqueResult(score=score, band=None, passed=score >= 7, confidence=None, explanation="", parts={},
                          critic_version="t", calibration_version="t")


def test_feedback_view_counts_volume_thumbs_and_agreement(db: Engine) -> None:  # noqa: F811
    with Session(db) as s, s.begin():
        a = make_chat(s, "ann", checkpoint_id="base")
        b = make_chat(s, "bob", checkpoint_id="rft")
        make_chat(s, "cid", checkpoint_id="rft")  # answered, not rated
        store.save_critique(session=s, message_id=a.answer.id, row=_critique(9).to_row())  # pass, thumbs up: agree
        store.save_critique(session=s, message_id=b.answer.id, row=_critique(9).to_row())  # pass, thumbs down: disagree
        store.upsert_rating(session=s, message_id=a.answer.id, user_id=a.user.id, liked=True)
        store.upsert_rating(session=s, message_id=b.answer.id, user_id=b.user.id, liked=False)
    view = read(db, views.build_feedback_view, since=datetime.now(UTC) - timedelta(days=1))
    assert [(d.questions, d.answers, d.ratings, d.thumbs_up) for d in view.volume] == [(3, 3, 2, 1)]
    assert {(t.checkpoint_id, t.ratings, t.thumbs_up) for t in view.thumbs} == {("base", 1, 1), ("rft", 1, 0)}
    assert [(d.n, d.agree) for d in view.agreement] == [(2, 1)]
    assert sorted(view.thumbs_table().rows) == [["base", 1, 1, "100.0%"], ["rft", 1, 0, "0.0%"]]
    future = read(db, views.build_feedback_view, since=datetime.now(UTC) + timedelta(days=1))
    assert future.volume == [] and future.thumbs == []


def test_promote_view_offers_non_live_policy_checkpoints_and_rollback_target(
        db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001", gate_passed=True)
    with Session(db) as s, s.begin():
        registry.register_checkpoint(session=s, checkpoint_id="critic-1", path="p", kind="critic")
    view = read(db, views.build_promote_view)
    assert view.live.id == BASE_ID and [cid for _, cid in view.choices] == [CAND_ID]
    assert view.rollback_to is None and view.promotions.rows == []
    with Session(db) as s, s.begin():
        registry.record_promotion(session=s, to_id=CAND_ID, by_user="admin", override=True)
    view = read(db, views.build_promote_view)
    assert view.live.id == CAND_ID and view.rollback_to == BASE_ID
    assert view.promotions.rows[0][1:] == ["promote", BASE_ID, CAND_ID, "admin", "", "yes"]


def test_promote_view_marks_automatic_promotions_and_shows_the_live_lineage(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001", gate_passed=True)
    view = read(db, views.build_promote_view)
    assert view.lineage.rows == [] and view.chain.startswith("No promotions yet")
    with Session(db) as s, s.begin():
        registry.record_promotion(session=s, to_id=CAND_ID, by_user="training", automatic=True)
        registry.register_checkpoint(session=s, checkpoint_id="dpo-2", path="/d", kind="dpo", parent_id=CAND_ID,
                                     gate_passed=False, metrics={"run_id": 2})
        registry.record_promotion(session=s, to_id="dpo-2", by_user="olga", override=True)
    view = read(db, views.build_promote_view)
    headers = view.promotions.headers
    automatic = {row[headers.index("to")]: row[headers.index("automatic")] for row in view.promotions.rows}
    assert automatic == {CAND_ID: "yes", "dpo-2": ""}
    assert view.lineage.headers == tables.LINEAGE_HEADERS
    assert [row[2:] for row in view.lineage.rows] == [
        ["promote", BASE_ID, CAND_ID, "rft", loop.run_id, "training", "yes", ""],
        ["promote", CAND_ID, "dpo-2", "dpo", 2, "olga", "", "yes"],
    ]
    assert view.chain == (f"Live models: {BASE_ID} → {CAND_ID} (run {loop.run_id}, automatic) → "
                          "**dpo-2** (run 2, olga, gate overridden)")
