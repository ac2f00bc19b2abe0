"""bench/cycle.py on the miniature cycle's settings (tests/training/test_training_real.py), one RFT round, no DPO.

The live model is sampled and evaluated on the session's vLLM server (``--live-url``); the RFT checkpoint runs in
transformers, so no server is started, reloaded or switched. The critic is the miniature cycle's scripted one,
which makes every question mixed, so the cycle always trains and the bench always has a candidate to report on.
"""

from __future__ import annotations

import json

import pytest

import training.cycle
from bench.cycle import main
from tests.bench.conftest import last_json_line
from tests.fakes import ShortestPassesCritic, miniature_cycle_config

pytestmark = [pytest.mark.vllm, pytest.mark.training]


def test_cycle_bench_reports_the_candidate_against_live(vllm_url, tmp_path, capsys, monkeypatch):
    real_deps = training.cycle.default_deps

    def deps_with_scripted_critic(settings, cfg):
        deps = real_deps(settings, cfg)
        deps.make_critic = lambda engine: ShortestPassesCritic()
        return deps

    monkeypatch.setattr(training.cycle, "default_deps", deps_with_scripted_critic)
    config = tmp_path / "cycle.json"
    config.write_text(json.dumps(miniature_cycle_config().model_dump(mode="json",
                                                                     exclude={"engine_backend", "live_url"})))
    state = tmp_path / "state"
    main(["--state", str(state), "--backend", "transformers", "--live-url", vllm_url, "--config", str(config),
          "--rft-rounds", "1", "--no-dpo"])
    result = last_json_line(capsys.readouterr().out)

    assert {"run_dir", "wall_s", "stages_s", "pool", "rounds", "rft_rows", "dpo_pairs", "candidate", "skipped",
            "live", "rft", "done_criteria"} <= set(result)
    assert result["skipped"] is None and result["candidate"] == "rft" and result["dpo_pairs"] is None
    assert result["run_dir"].startswith(str(state)) and result["wall_s"] > 0
    assert {"pool", "sample_live", "build_rft", "train_sft", "eval_rft", "register"} <= set(result["stages_s"])
    assert result["pool"]["sampled"] == 4 and result["rft_rows"]["rft_data"] >= 1
    assert result["live"]["n"] == 4 and result["live"]["perplexity"] > 1
    assert 0 <= result["rft"]["strict_acc"] <= 1 and result["rft"]["ppl_ratio"] > 0
    assert set(result["done_criteria"]) == {"ratio_ge_3", "cis_disjoint", "ppl_within_5pct", "eval_ge_200",
                                            "wall_le_30min"}
    assert result["done_criteria"]["eval_ge_200"] is False


def test_resume_continues_in_the_newest_bench_database(tmp_path):
    import os

    from bench.cycle import bench_database

    assert bench_database(tmp_path, resume=True) is None, "nothing to resume"
    fresh = bench_database(tmp_path, resume=False)
    assert fresh.parent == tmp_path and fresh.name.startswith("bench-") and not fresh.exists()
    older, newer = tmp_path / "bench-2.db", tmp_path / "bench-1.db"
    for i, path in enumerate((newer, older)):  # the names sort the other way round from the times
        path.write_bytes(b"")
        os.utime(path, (1000 + 10 * (1 - i), 1000 + 10 * (1 - i)))
    assert bench_database(tmp_path, resume=True) == newer
    assert bench_database(tmp_path, resume=False) not in (older, newer)
