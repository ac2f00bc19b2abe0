"""bench/critique.py at tiny sizes, against the session's vLLM server: answer, samples drawn alongside, judge."""

from __future__ import annotations

import pytest

from bench.critique import main
from tests.bench.conftest import last_json_line

pytestmark = pytest.mark.vllm


def test_critique_bench_times_answer_samples_and_judge(vllm_url, capsys, monkeypatch):
    monkeypatch.setenv("MATHCHAT_CRITIQUE__SELF_CONSISTENCY_MAX_TOKENS", "24")
    monkeypatch.setenv("MATHCHAT_CRITIQUE__JUDGE_MAX_TOKENS", "24")
    main(["--path", "engine", "--engine-url", vllm_url, "--questions", "2", "--k", "2", "--answer-max-tokens", "32",
          "--force-judge",
          "--overlap"])
    lines = capsys.readouterr().out.strip().splitlines()
    result = last_json_line("\n".join(lines))
    assert len(lines) == 3, "one line per question, then the summary"
    assert {"engine", "questions", "k", "judge", "force_judge", "overlap", "answer_max_tokens", "samples_max_tokens",
            "judge_calls", "answer_s", "critique_s", "samples_s", "judge_s", "overhead", "answers_correct",
            "verdict_agrees", "answer_alone_s"} <= set(result)
    assert result["engine"] == vllm_url and result["questions"] == 2 and result["k"] == 2
    assert result["samples_max_tokens"] == 24 and result["answer_max_tokens"] == 32
    assert result["answer_s"] > 0 and result["answer_alone_s"] > 0 and result["critique_s"] >= 0
    assert 0 <= result["judge_calls"] <= 2 and 0 <= result["verdict_agrees"] <= 2


def test_critique_bench_app_path_times_the_badge_after_the_answer_in_both_apps(vllm_url, capsys, monkeypatch):
    monkeypatch.setenv("MATHCHAT_CRITIQUE__SELF_CONSISTENCY_MAX_TOKENS", "24")
    main(["--engine-url", vllm_url, "--questions", "2", "--k", "2", "--answer-max-tokens", "24", "--no-judge"])
    lines = capsys.readouterr().out.strip().splitlines()
    result = last_json_line("\n".join(lines))
    assert result["path"] == "app" and result["engine"] == vllm_url
    assert result["questions"] == 2 and result["errors"] == 0, lines
    assert len(lines) == 3, "one line per question (both apps), then the summary"
    for name in ("overlapped", "after"):
        figures = result[name]
        assert figures["answer_s"] > 0 and figures["first_token_p50_s"] > 0
        assert 0 <= figures["badge_after_answer_p50_s"] <= figures["badge_after_answer_max_s"]
        assert figures["overhead"] is not None and 0 <= figures["unverified"] <= 2
        assert 0 <= figures["samples_late"] <= 2
