"""The console reads what a real training cycle writes (the cycle run with the training tests' scripted deps).

This is the contract between ``training.cycle`` and the console: run progress, datasets with their
sample files, candidate metrics, and the run's ``eval.json`` with per-question answers.
"""

from __future__ import annotations

from pathlib import Path

from feedback.db import make_engine, run_in_transaction, upgrade_db
from mathchat.settings import DatabaseSettings, ModelSettings, TrainingSettings, load_settings
from console import run_files, tables
from console import views
from tests.fakes import fake_deps, small_config
from training.cycle import run_cycle


def test_console_views_read_a_real_cycles_outputs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mathchat.db'}"
    upgrade_db(url)
    db = make_engine(url)
    settings = load_settings(state_dir=tmp_path, database=DatabaseSettings(url=url),
                             training=TrainingSettings(workdir=tmp_path / "runs"),
                             model=ModelSettings(cache_dir=load_settings().model.cache_dir,
                                                 checkpoints_dir=tmp_path / "checkpoints"))
    try:
        result = run_cycle(settings, small_config(), deps=fake_deps(tmp_path), db=db)
        candidate_id, live_id = result["candidate"]["id"], result["live"]["id"]

        run_view = run_in_transaction(db, lambda s: views.build_run_view(session=s))
        assert run_view.run.status == "succeeded" and run_view.run.candidate_checkpoint_id == candidate_id
        timed = [stage for stage, _, status in tables.stage_timings(run_view.run.progress) if status == "done"]
        assert {"pool", "sample_live", "build_rft", "train_sft", "register"} <= set(timed)
        assert "stage register done" in run_files.run_log_tail(run_view.run)

        rft = next(d for d in run_view.run.datasets if d.kind == "rft")
        dataset_view = run_in_transaction(db, lambda s: views.build_dataset_view(session=s, dataset_id=rft.id))
        assert len(dataset_view.scores["samples_live"]) == result["live_samples"]["n"]
        assert dataset_view.examples.rows and dataset_view.examples.headers == ["question", "answer"]

        cand = run_in_transaction(db, lambda s: views.build_candidate_view(session=s, checkpoint_id=None))
        assert cand.candidate.id == candidate_id and cand.comparison_id == live_id
        rows = {r[0]: r for r in cand.table.rows}
        expected = result["eval"][result["candidate"]["kind"]]["summary"]["overall"]["strict_accuracy"]["rate"]
        assert rows["strict accuracy"][1] == tables.format_pct(expected)
        live_rate = result["eval"]["live"]["summary"]["overall"]["strict_accuracy"]["rate"]
        assert rows["strict accuracy"][2] == tables.format_pct(live_rate)  # from the candidate's live_eval
        assert len(cand.answers.rows) == 10 and set(cand.scores) == {f"candidate {candidate_id}", f"live {live_id}"}
        assert [p.checkpoint_id for p in cand.lineage][0] == live_id and cand.lineage[-1].checkpoint_id == candidate_id
        assert "gate" in cand.gate
    finally:
        db.dispose()
