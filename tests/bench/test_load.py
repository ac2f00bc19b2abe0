"""bench/load.py at tiny sizes: it starts the app on temp state, the app uses the session's vLLM server."""

from __future__ import annotations

import pytest

from bench.load import main
from tests.bench.conftest import last_json_line

pytestmark = pytest.mark.vllm


def test_load_bench_loses_nothing_with_three_students(vllm_url, capsys):
    main(["--vllm-url", vllm_url, "--students", "3", "--questions", "1", "--max-tokens", "16",
          "--max-seconds", "300"])
    result = last_json_line(capsys.readouterr().out)
    assert set(result) == {"students", "questions", "ratings", "p50_s", "p95_s", "errors", "lost", "wall_s"}
    assert (result["students"], result["questions"], result["ratings"]) == (3, 3, 3)
    assert result["errors"] == 0 and result["lost"] == 0
    assert 0 < result["p50_s"] <= result["p95_s"]
