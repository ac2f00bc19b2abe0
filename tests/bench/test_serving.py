"""bench/serving.py at tiny sizes: the session's vLLM server, then transformers with the ``auto`` dtype setting."""

from __future__ import annotations

import pytest

from bench.serving import main
from tests.bench.conftest import last_json_line

pytestmark = pytest.mark.vllm


def test_serving_bench_compares_vllm_and_transformers(vllm_url, capsys):
    main(["--vllm-url", vllm_url, "--concurrency", "2", "--tokens", "8", "--ttft-runs", "2"])
    result = last_json_line(capsys.readouterr().out)
    assert {"vllm_tok_s", "hf_tok_s", "ratio", "ttft_p50_s", "ttft_p95_s", "vllm_single_tok_s", "hf_single_tok_s",
            "vllm_startup_s", "concurrency", "tokens", "vllm_mode", "dtype"} <= set(result)
    assert result["vllm_tok_s"] > 0 and result["hf_tok_s"] > 0 and result["ratio"] > 0
    assert 0 < result["ttft_p50_s"] <= result["ttft_p95_s"]
    assert result["vllm_mode"] == "external" and result["vllm_startup_s"] is None
    assert result["dtype"] in ("bfloat16", "float32"), "the auto setting is resolved before it reaches torch"
    assert (result["concurrency"], result["tokens"]) == (2, 8)
    assert result["bandwidth_gbs"] > 0 and result["bandwidth_threads"] >= 1 and result["bound_tok_s"] > 0
    for engine in ("vllm", "hf"):  # the ratio is the single stream over the bound (both rounded when printed)
        ratio, single = result[f"{engine}_single_vs_bound"], result[f"{engine}_single_tok_s"]
        assert ratio > 0 and abs(ratio * result["bound_tok_s"] - single) <= 0.01 * result["bound_tok_s"] + 0.1


def test_weight_bytes_counts_every_parameter_in_the_served_dtype(default_model_path):
    from bench.serving import weight_bytes

    bf16, fp32 = weight_bytes(default_model_path, "bfloat16"), weight_bytes(default_model_path, "float32")
    assert fp32 == 2 * bf16 and 100e6 < bf16 / 2 < 200e6, "SmolLM2-135M has about 135M parameters"
