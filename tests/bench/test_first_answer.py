"""bench/first_answer.py at a tiny size: `python app.py` really started (eager vLLM, a short answer), one
student answered, vLLM taking over afterwards, and no compile cache that fails to load."""

from __future__ import annotations

import pytest

from bench.first_answer import main
from tests.bench.conftest import last_json_line

pytestmark = pytest.mark.vllm


def test_first_answer_bench_starts_the_app_and_answers_one_student(capsys, tmp_path):
    main(["--starts", "warm", "--max-tokens", "16", "--timeout", "600", "--cache-root", str(tmp_path / "cache"),
          "--env", "MATHCHAT_VLLM__ENFORCE_EAGER=true"])
    result = last_json_line(capsys.readouterr().out)
    assert result["bench"] == "first_answer" and result["env"] == {"MATHCHAT_VLLM__ENFORCE_EAGER": "true"}
    assert result["warm_page_s"] is not None and result["warm_first_answer_s"] is not None, result
    assert result["warm_page_s"] <= result["warm_first_answer_s"]
    assert result["warm_vllm_ready_s"] is not None, "vLLM must take over from the bridge"
    assert result["warm_bridged"] == (result["warm_first_answer_s"] < result["warm_vllm_ready_s"])
    assert result["warm_compile_cache_load_failures"] == 0 and result["warm_answer_chars"] > 0
