"""bench/load.py at tiny sizes: it starts the app on temp state, the app uses the session's vLLM server."""

from __future__ import annotations

import pytest

from bench.load import main
from tests.bench.conftest import last_json_line
from tests.fakes import new_database


@pytest.mark.postgres
def test_two_replicas_on_postgresql_and_redis_lose_nothing_and_share_limits(capsys, tmp_path) -> None:
    with new_database("postgresql", tmp_path) as url:
        main(["--replicas", "2", "--fake-engine", "--database-url", url, "--redis-url", "redis://127.0.0.1:6379/0",
              "--students", "6", "--questions", "2", "--user-limit", "3", "--max-seconds", "300"])
    result = last_json_line(capsys.readouterr().out)
    assert (result["replicas"], result["questions"], result["ratings"]) == (2, 12, 12)
    assert result["errors"] == 0 and result["lost"] == 0
    assert result["scheduler_leaders"] == 1 and result["per_user_limit_enforced"] is True


@pytest.mark.vllm
def test_load_bench_loses_nothing_with_three_students(vllm_url, capsys):
    main(["--vllm-url", vllm_url, "--students", "3", "--questions", "1", "--max-tokens", "16",
          "--max-seconds", "300"])
    result = last_json_line(capsys.readouterr().out)
    assert set(result) == {"students", "questions", "ratings", "p50_s", "p95_s", "errors", "lost", "wall_s",
                           "replicas", "scheduler_leaders", "per_user_limit_enforced"}
    assert (result["students"], result["questions"], result["ratings"]) == (3, 3, 3)
    assert result["errors"] == 0 and result["lost"] == 0
    assert 0 < result["p50_s"] <= result["p95_s"]
