"""bench/sampling.py at tiny sizes, against the session's vLLM server (no server of its own)."""

from __future__ import annotations

import pytest

from bench.sampling import main
from tests.bench.conftest import last_json_line

pytestmark = pytest.mark.vllm


def test_sampling_bench_reports_throughput_per_concurrency(vllm_url, capsys):
    main(["--vllm-url", vllm_url, "--questions", "4", "--k", "2", "--concurrency", "2,4", "--max-tokens", "24"])
    result = last_json_line(capsys.readouterr().out)
    assert (result["questions"], result["k"], result["max_tokens"]) == (4, 2, 24)
    assert set(result) == {"questions", "k", "max_tokens", "external"}
    external = result["external"]
    assert external["startup_s"] is None and {"c2", "c4"} <= set(external)
    for c in ("c2", "c4"):
        assert external[c]["samples_s"] > 0 and external[c]["mean_chars"] > 0
