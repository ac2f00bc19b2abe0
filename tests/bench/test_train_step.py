"""bench/train_step.py at tiny sizes: one step of each real training subprocess (SFT and DPO), one variant."""

from __future__ import annotations

import pytest

from bench.train_step import main
from mathchat.hardware import local_dtype, resolve_threads
from tests.bench.conftest import last_json_line

pytestmark = pytest.mark.training


def test_train_step_bench_times_one_sft_and_one_dpo_step(capsys):
    dtype = "bf16" if local_dtype("auto") == "bfloat16" else "fp32"  # the fast one on this machine
    threads = min(2, resolve_threads("auto"))
    main(["--steps", "1", "--variants", f"{dtype}:{threads}", "--kinds", "sft,dpo", "--batch-size", "2"])
    result = last_json_line(capsys.readouterr().out)
    assert set(result) == {"steps", f"sft_{dtype}_t{threads}", f"dpo_{dtype}_t{threads}"}
    assert result["steps"] == 1
    for kind in ("sft", "dpo"):
        run = result[f"{kind}_{dtype}_t{threads}"]
        assert 0 < run["s_per_step"] and 0 < run["train_s"] < run["wall_s"] and run["batch"] == 2
