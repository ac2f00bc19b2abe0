"""bench/feedback.py at tiny sizes: rating writes on SQLite and PostgreSQL, exports of a few hundred answers."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from bench.feedback import main
from tests.bench.conftest import last_json_line
from tests.fakes import PG_URL

pytestmark = pytest.mark.postgres


def bench_schemas() -> set[str]:
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'mathchat_bench_%'"
            )).scalars())
    finally:
        engine.dispose()


def test_feedback_bench_writes_and_exports_on_both_databases(capsys):
    before = bench_schemas()
    main(["--writes", "20", "--writers", "50", "--writes-per-writer", "4", "--export-rows", "300",
          "--postgres-url", PG_URL])
    result = last_json_line(capsys.readouterr().out)
    assert set(result) == {"sqlite_writes_s", "postgres_writes_s", "export_100k_s", "export_rows", "seed_s",
                           "export_100k_pg_s",
                           "sqlite_concurrent_writes_s", "sqlite_concurrent_lost", "postgres_concurrent_writes_s",
                           "postgres_concurrent_lost"}
    assert result["sqlite_concurrent_lost"] == 0 and result["postgres_concurrent_lost"] == 0
    assert result["export_rows"] == 300
    assert result["sqlite_writes_s"] > 0 and result["postgres_writes_s"] > 0
    assert result["export_100k_s"] > 0 and result["export_100k_pg_s"] > 0
    assert bench_schemas() == before, "the bench drops its PostgreSQL schemas"
