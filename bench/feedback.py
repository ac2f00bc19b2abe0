"""Feedback store throughput: rating writes/s (SQLite WAL and PostgreSQL) and the time to export 100k answers.

Each rating write is its own committed transaction through ``run_in_transaction`` -- what a
thumbs click costs in the app (ownership check, upsert, history row, commit). The export is
timed on a temp SQLite DB seeded by bulk inserts (100k questions + 100k answers + critiques +
ratings), writing all 100k answers as SFT rows; then the same on PostgreSQL (server-side cursor). Temp databases (files, PostgreSQL schemas) are
removed afterwards. Last line: one JSON object of the figures.

Then ``--writers`` threads (50) rate at once on each backend; the bench counts what landed (``*_lost``
must be 0: every write leaves its history row and the last state each writer set).

    python bench/feedback.py [--writes 2000] [--writers 50] [--export-rows 100000] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedback import store  # noqa: E402
from feedback.db import make_engine, run_in_transaction, session_scope, upgrade_db  # noqa: E402
from training.export import ExportFilters, write_export  # noqa: E402
from feedback.models import Conversation, Critique, Message, Rating, RatingEvent, User, utcnow  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def bench_rating_writes(url: str, writes: int, answers: int = 200) -> float:
    """Rating writes per second, each a separate committed transaction that changes the stored rating."""
    engine = make_engine(url)
    with session_scope(engine) as session:
        user = store.create_user(session=session, username="bench", password_hash="x")
        conversation = store.create_conversation(session=session, user_id=user.id)
        answer_ids = []
        for i in range(answers):
            q = store.add_user_message(session=session, conversation_id=conversation.id, user_id=user.id,
                                       content=f"What is {i}+1?")
            a = store.begin_assistant_message(session=session, conversation_id=conversation.id, parent_id=q.id,
                                              checkpoint_id="base", sampling={})
            store.finish_assistant_message(session=session, message_id=a.id, status="ok", text=f"{i + 1}")
            answer_ids.append(a.id)
        user_id = user.id
    reasons = [None, "wrong answer", "unclear"]
    start = time.perf_counter()
    for i in range(writes):
        message_id = answer_ids[i % answers]
        liked, reason = (i // answers) % 2 == 0, reasons[(i // answers) % 3]
        run_in_transaction(
            engine,
            lambda s: store.upsert_rating(session=s, message_id=message_id, user_id=user_id, liked=liked,
                                          reason=None if liked else reason),
        )
    elapsed = time.perf_counter() - start
    engine.dispose()
    return writes / elapsed


def bench_concurrent_writes(url: str, writers: int = 50, per_writer: int = 40) -> tuple[float, int]:
    """(writes/s, ratings lost) with ``writers`` threads rating at once, each its own student and answers.

    Every write flips that answer's rating, so each one must leave a history row; afterwards the
    history must hold every write and each rating the last state its writer set. A write that raised
    counts as lost too: the app would have shown the student an error for it.
    """
    engine = make_engine(url)
    owners: list[tuple[int, list[int]]] = []
    with session_scope(engine) as session:
        for w in range(writers):
            user = store.create_user(session=session, username=f"writer{w}", password_hash="x")
            conversation = store.create_conversation(session=session, user_id=user.id)
            answers = []
            for i in range(4):
                q = store.add_user_message(session=session, conversation_id=conversation.id, user_id=user.id,
                                           content=f"What is {w}+{i}?")
                a = store.begin_assistant_message(session=session, conversation_id=conversation.id,
                                                  parent_id=q.id, checkpoint_id="base", sampling={})
                store.finish_assistant_message(session=session, message_id=a.id, status="ok", text=f"{w + i}")
                answers.append(a.id)
            owners.append((user.id, answers))
    failures: list[BaseException] = []

    def write_all(user_id: int, answers: list[int]) -> None:
        for i in range(per_writer):
            message_id, liked = answers[i % len(answers)], (i // len(answers)) % 2 == 0
            try:
                run_in_transaction(engine, lambda s: store.upsert_rating(
                    session=s, message_id=message_id, user_id=user_id, liked=liked))
            except Exception as error:  # noqa: BLE001 - counted as lost, reported below
                failures.append(error)

    threads = [threading.Thread(target=write_all, args=owner) for owner in owners]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    with session_scope(engine) as session:
        events = session.scalar(select(func.count()).select_from(RatingEvent)) or 0
        final = {(r.user_id, r.message_id): r.liked for r in session.scalars(select(Rating))}
    engine.dispose()
    expected_final = {}
    for user_id, answers in owners:
        for i in range(per_writer):
            expected_final[(user_id, answers[i % len(answers)])] = (i // len(answers)) % 2 == 0
    wrong_final = sum(final.get(key) != liked for key, liked in expected_final.items())
    lost = max(writers * per_writer - events, len(failures), wrong_final)
    return writers * per_writer / elapsed, lost


def seed_answers(url: str, n: int, seed: int = 0) -> None:
    """Bulk-insert ``n`` question/answer pairs with critiques and ratings (ids assigned here)."""
    rng = random.Random(seed)
    engine = make_engine(url)
    now = utcnow()
    users = 100
    with engine.begin() as connection:
        connection.execute(insert(User), [
            {"id": u, "username": f"u{u}", "password_hash": "x", "role": "student", "created_at": now, "disabled": False}
            for u in range(1, users + 1)
        ])
        connection.execute(insert(Conversation), [
            {"id": u, "user_id": u, "title": "bench", "created_at": now, "updated_at": now} for u in range(1, users + 1)
        ])
        chunk = 20_000
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            questions, answers, critiques, ratings = [], [], [], []
            for i in range(lo, hi):
                conversation = i % users + 1
                at = now - timedelta(seconds=n - i)
                a, b = rng.randint(10, 999), rng.randint(10, 999)
                questions.append({"id": 2 * i + 1, "conversation_id": conversation, "role": "user",
                                  "content": f"What is {a} + {b}?", "status": "ok", "created_at": at})
                answers.append({"id": 2 * i + 2, "conversation_id": conversation, "role": "assistant",
                                "content": f"{a} + {b} = {a + b}. The answer is {a + b}.", "status": "ok",
                                "checkpoint_id": "base", "sampling": {"temperature": 0.7}, "parent_id": 2 * i + 1,
                                "created_at": at, "finished_at": at})
                score = rng.randint(1, 10)
                critiques.append({"message_id": 2 * i + 2, "score": score, "passed": score >= 7, "explanation": "",
                                  "has_reference": False, "critic_version": "c", "calibration_version": "k",
                                  "created_at": at})
                if i % 3 == 0:
                    ratings.append({"message_id": 2 * i + 2, "user_id": conversation, "liked": score >= 7,
                                    "created_at": at, "updated_at": at})
            connection.execute(insert(Message), questions)
            connection.execute(insert(Message), answers)
            connection.execute(insert(Critique), critiques)
            connection.execute(insert(Rating), ratings)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")  # planner statistics, as autovacuum would have them in a live DB
    engine.dispose()


def bench_export(url: str, n: int, out: Path) -> tuple[float, float, int]:
    """(seed seconds, export seconds, rows written) for an SFT export of all ``n`` answers."""
    start = time.perf_counter()
    seed_answers(url, n)
    seeded = time.perf_counter() - start
    engine = make_engine(url)
    start = time.perf_counter()
    with session_scope(engine) as session:
        manifest = write_export(session=session, fmt="sft", out=out, filters=ExportFilters(min_score=1))
    elapsed = time.perf_counter() - start
    engine.dispose()
    return seeded, elapsed, manifest.count


class PostgresSchema:
    """A throwaway schema on the PostgreSQL server (dropped on exit)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.name = f"mathchat_bench_{secrets.token_hex(4)}"
        self.admin = create_engine(base_url)

    def __enter__(self) -> str:
        with self.admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{self.name}"')
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={self.name}"})
        return url.render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        with self.admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        self.admin.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000, help="rating writes per backend")
    parser.add_argument("--writers", type=int, default=50, help="concurrent writer threads per backend")
    parser.add_argument("--writes-per-writer", type=int, default=40)
    parser.add_argument("--export-rows", type=int, default=100_000, help="answers to seed and export")
    parser.add_argument("--postgres-url", default=PG_URL)
    args = parser.parse_args(argv)

    figures: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory(prefix="mathchat-bench-") as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'writes.db'}"
        upgrade_db(sqlite_url)
        figures["sqlite_writes_s"] = round(bench_rating_writes(sqlite_url, args.writes), 1)
        print(f"sqlite (WAL): {figures['sqlite_writes_s']} rating writes/s", file=sys.stderr)
        concurrent_url = f"sqlite:///{Path(tmp) / 'concurrent.db'}"
        upgrade_db(concurrent_url)
        rate, lost = bench_concurrent_writes(concurrent_url, args.writers, args.writes_per_writer)
        figures["sqlite_concurrent_writes_s"], figures["sqlite_concurrent_lost"] = round(rate, 1), lost
        print(f"sqlite: {args.writers} concurrent writers, {rate:.1f} writes/s, {lost} lost", file=sys.stderr)

        with PostgresSchema(args.postgres_url) as pg_url:
            upgrade_db(pg_url)
            figures["postgres_writes_s"] = round(bench_rating_writes(pg_url, args.writes), 1)
        with PostgresSchema(args.postgres_url) as pg_url:
            upgrade_db(pg_url)
            rate, lost = bench_concurrent_writes(pg_url, args.writers, args.writes_per_writer)
        figures["postgres_concurrent_writes_s"], figures["postgres_concurrent_lost"] = round(rate, 1), lost
        print(f"postgresql: {figures['postgres_writes_s']} rating writes/s", file=sys.stderr)

        export_url = f"sqlite:///{Path(tmp) / 'export.db'}"
        upgrade_db(export_url)
        seeded, elapsed, count = bench_export(export_url, args.export_rows, Path(tmp) / "sft.jsonl")
        if count != args.export_rows:
            raise SystemExit(f"export wrote {count} rows, expected {args.export_rows}")
        figures["export_100k_s"] = round(elapsed, 2)
        figures["export_rows"] = count
        figures["seed_s"] = round(seeded, 1)
        print(f"seeded {count} answers in {seeded:.1f}s; exported in {elapsed:.2f}s", file=sys.stderr)

        with PostgresSchema(args.postgres_url) as pg_url:
            upgrade_db(pg_url)
            seeded, elapsed, count = bench_export(pg_url, args.export_rows, Path(tmp) / "sft-pg.jsonl")
        figures["export_100k_pg_s"] = round(elapsed, 2)
        print(f"postgresql: seeded {count} answers in {seeded:.1f}s; exported in {elapsed:.2f}s", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
