"""What the console reads about a run (feedback.reads, console.run_files, console.tables) on a temp SQLite DB with hand-made rows and the files a cycle writes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedback import registry
from feedback import reads
from feedback.db import run_in_transaction
from console import run_files, tables
from serving.live_model import SyncState
from serving.vllm_supervisor import SwitchReport
from tests.fakes import make_loop


def read(db: Engine, fn, **kwargs):  # noqa: ANN001, ANN201, F811
    return run_in_transaction(db, lambda s: fn(session=s, **kwargs))


def test_load_run_carries_its_datasets_and_log(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    run = read(db, reads.load_run_info, run_id=loop.run_id)
    assert {d.kind for d in run.datasets} == {"rft", "dpo"}
    assert run_files.run_folders(run.datasets) == [str(loop.run_dir)]
    assert run_files.run_log_files(run) == [loop.run_dir / "train_sft.log"]
    assert "Run 1" in tables.run_summary_markdown(run) and "sample_live" in tables.run_summary_markdown(run)
    assert read(db, reads.load_run_info, run_id=999) is None


def test_run_log_tail_keeps_only_the_last_lines(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    (loop.run_dir / "train_sft.log").write_text("".join(f"line {i}\n" for i in range(500)))
    tail = run_files.run_log_tail(read(db, reads.load_run_info, run_id=loop.run_id), lines=3)
    assert tail.endswith("line 497\nline 498\nline 499") and "line 496" not in tail


def test_progress_table_and_timings_skip_bookkeeping() -> None:
    progress = {"owner": {"pid": 1, "host": "h"}, "start": {}, "pool": {"status": "done", "seconds": 2.0},
                "train_sft": {"status": "running", "step": 3}}
    table = tables.progress_table(progress)
    assert [r[0] for r in table.rows] == ["start", "pool", "train_sft"]
    assert table.rows[2][6] == '{"step": 3}'
    assert tables.stage_timings(progress) == [("pool", 2.0, "done")]


def test_dataset_scores_come_from_the_sample_file_named_in_the_manifest_inputs(
        db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    dataset = read(db, reads.get_dataset_info, dataset_id=loop.rft_dataset_id)
    assert run_files.dataset_scores(dataset) == {"samples_live": [float(s) for s in loop.live_scores]}
    (loop.run_dir / "samples_live.jsonl").unlink()
    assert run_files.dataset_scores(dataset) == {}


def test_example_rows_of_rft_file_show_question_and_answer(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    loop = make_loop(db, tmp_path / "run-00001")
    rows = run_files.read_jsonl_head(loop.run_dir / "rft.jsonl", 2)
    assert tables.example_rows("rft", rows).rows == [["0 + 1 = ?", "The answer is 1."], ["1 + 1 = ?", "The answer is 2."]]


def test_read_jsonl_head_of_missing_file_is_empty(tmp_path: Path) -> None:
    assert run_files.read_jsonl_head(tmp_path / "nope.jsonl") == []


def test_counts_by_kind_sums_rows(db: Engine, tmp_path: Path) -> None:  # noqa: F811
    make_loop(db, tmp_path / "run-00001")
    assert tables.counts_by_kind(read(db, reads.list_dataset_infos)) == {"dpo": 1, "rft": 7}


def test_lineage_follows_parents_oldest_first(db: Engine) -> None:  # noqa: F811
    with Session(db) as s, s.begin():
        registry.register_checkpoint(session=s, checkpoint_id="a", path="p", kind="base", status="live")
        registry.register_checkpoint(session=s, checkpoint_id="b", path="p", kind="rft", parent_id="a")
        registry.register_checkpoint(session=s, checkpoint_id="c", path="p", kind="dpo", parent_id="b")
    assert [c.id for c in read(db, reads.load_lineage, checkpoint_id="c")] == ["a", "b", "c"]
    assert read(db, reads.load_lineage, checkpoint_id="missing") == []


def test_switch_report_markdown_shows_each_phase() -> None:
    text = tables.switch_report_markdown(SwitchReport("a", "b", start_s=41.5, flip_s=0.002, drain_s=3.25,
                                                    inflight_at_flip=2))
    assert "41.5 s" in text and "0.002 s" in text and "3.2 s" in text and "in flight at the flip: 2" in text


def test_sync_status_flags_a_pending_switch_and_the_last_error() -> None:
    state = SyncState(served_id="a", last_error="switch to b failed: boom")
    text = tables.sync_status_markdown(state, "b")
    assert "served now: **a**" in text and "not switched" in text and "boom" in text


def test_run_summary_and_manifest_show_the_adaptation() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    note = "run 3: perplexity refused (+8.0% > +5.0%): sft.learning_rate 0.00015 -> 7.5e-05"
    adapt = {"status": "done", "note": note, "changes": [{"setting": "sft.learning_rate"}],
             "overrides": {"sft.learning_rate": 7.5e-5}}
    run = reads.RunInfo(4, "running", "schedule", "pool", {"adapt": adapt}, "", None, {"k": 4},
                       datetime(2026, 1, 1, tzinfo=UTC), None, None, None, None)
    assert f"**Settings adapted:** {note}" in tables.run_summary_markdown(run)
    assert tables.run_manifest(run)["adaptation"]["overrides"] == {"sft.learning_rate": 7.5e-5}
    kept = replace(run, progress={"adapt": {"status": "done", "note": "run 3: candidate passed its gate", "changes": []}})
    assert "**Settings:** run 3: candidate passed its gate" in tables.run_summary_markdown(kept)
    assert tables.run_manifest(replace(run, progress={}))["adaptation"] is None


def test_run_summary_says_why_the_rft_rounds_stopped() -> None:
    from datetime import UTC, datetime

    reason = "round 3 not trained: the cycle would end at 2150 s, past its 1800 s budget"
    progress = {"round_stop": {"status": "done", "stop": True, "reason": reason, "projected_finish_s": 2150.0}}
    run = reads.RunInfo(5, "running", "schedule", "round_stop", progress, "", None, {},
                        datetime(2026, 1, 1, tzinfo=UTC), None, None, None, None)
    assert f"**Rounds:** {reason}" in tables.run_summary_markdown(run)
    assert "**Rounds:**" not in tables.run_summary_markdown(reads.RunInfo(
        5, "running", "schedule", "pool", {}, "", None, {}, datetime(2026, 1, 1, tzinfo=UTC), None, None, None, None))
