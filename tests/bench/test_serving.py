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
