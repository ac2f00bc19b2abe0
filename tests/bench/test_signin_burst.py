"""bench/signin_burst.py at a tiny size: sign-ins at once beside a writer, and what the writer saw."""

from __future__ import annotations

from bench.signin_burst import main
from tests.bench.conftest import last_json_line


def test_signin_burst_bench_reports_the_writes_beside_the_sign_ins(capsys) -> None:
    main(["--students", "4", "--rounds", "2", "--write-every-ms", "20"])
    result = last_json_line(capsys.readouterr().out)
    assert set(result) == {"students", "sign_ins", "sign_ins_ok", "sign_ins_busy", "burst_s", "writes", "write_failures",
                           "write_p50_ms", "write_max_ms", "app_retries", "failure_examples"}
    assert result["sign_ins"] == 8 and result["sign_ins_ok"] == 8 and result["sign_ins_busy"] == 0
    assert result["writes"] >= 1 and result["write_failures"] == 0 and result["failure_examples"] == []
    assert result["write_max_ms"] >= result["write_p50_ms"] > 0
