"""feedback/db.py: migrations, connection settings, transactions and the retry of transient failures."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from feedback import registry, store
from feedback.db import current_revision, downgrade_db, is_transient, make_engine, run_in_transaction, session_scope, upgrade_db
from feedback.errors import InvalidInput, StoreUnavailable
from feedback.models import Base, User
from tests.fakes import make_chat, new_database


def _users(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def test_migrations_create_exactly_the_models_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent_and_reaches_head(db_url: str, engine: Engine) -> None:
    upgrade_db(db_url)
    assert current_revision(engine) == "0007"


def test_migrations_downgrade_to_base_and_back(fresh_engine: Engine) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    downgrade_db(url, "base")
    assert current_revision(fresh_engine) is None
    with fresh_engine.connect() as connection:
        assert "users" not in inspect(connection).get_table_names()
    upgrade_db(url)
    assert current_revision(fresh_engine) == "0007"


def test_downgrading_0006_drops_corrections_and_keeps_the_ratings(fresh_engine: Engine) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    with session_scope(fresh_engine) as session:
        chat = make_chat(session, "ada")
        store.upsert_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=False,
                            correction="85")
    downgrade_db(url, "0005")  # through 0007 and 0006
    fresh_engine.dispose()
    with fresh_engine.connect() as connection:
        for table in ("ratings", "rating_events"):
            assert "correction" not in {c["name"] for c in inspect(connection).get_columns(table)}
        assert connection.execute(text("SELECT count(*) FROM ratings")).scalar() == 1
    upgrade_db(url)
    fresh_engine.dispose()
    with fresh_engine.connect() as connection:
        assert connection.execute(text("SELECT correction FROM ratings")).scalar() is None


def test_downgrading_0007_drops_the_automatic_flag_and_keeps_the_promotions(fresh_engine: Engine) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    with session_scope(fresh_engine) as session:
        registry.register_checkpoint(session=session, checkpoint_id="base", path="/m", kind="base", status="live")
        registry.register_checkpoint(session=session, checkpoint_id="rft-1", path="/r", kind="rft", gate_passed=True)
        registry.record_promotion(session=session, to_id="rft-1", by_user="training", automatic=True)
    downgrade_db(url, "0006")
    fresh_engine.dispose()
    with fresh_engine.connect() as connection:
        assert "automatic" not in {c["name"] for c in inspect(connection).get_columns("promotions")}
        assert connection.execute(text("SELECT to_id FROM promotions")).scalar() == "rft-1"
    upgrade_db(url)
    fresh_engine.dispose()
    with fresh_engine.connect() as connection:  # rows from before 0007 read as an operator's
        assert connection.execute(text("SELECT automatic FROM promotions")).scalar() in (False, 0)
    with session_scope(fresh_engine) as session:  # and new rows without the flag default to false in SQL too
        session.execute(text("INSERT INTO promotions (action, from_id, to_id, by_user, at, override) "
                             "VALUES ('rollback', 'rft-1', 'base', 'op', CURRENT_TIMESTAMP, false)"))
        flags = session.execute(text("SELECT automatic FROM promotions ORDER BY id")).scalars().all()
        assert [bool(f) for f in flags] == [False, False]


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}", busy_timeout_ms=1234)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    engine.dispose()


def test_foreign_keys_are_enforced(session: Session) -> None:
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            store.create_conversation(session=session, user_id=987654)


def test_datetimes_come_back_timezone_aware_utc(session: Session) -> None:
    chat = make_chat(session, "ada")
    session.expire_all()
    user = session.get(User, chat.user.id)
    assert user.created_at.utcoffset().total_seconds() == 0


def test_session_scope_commits_or_rolls_back_as_a_whole(fresh_engine: Engine) -> None:
    with session_scope(fresh_engine) as session:
        store.create_user(session=session, username="ada", password_hash="x")
    with pytest.raises(RuntimeError):
        with session_scope(fresh_engine) as session:
            store.create_user(session=session, username="bob", password_hash="x")
            raise RuntimeError("request failed after the first write")
    assert _users(fresh_engine) == 1


def test_retry_reruns_the_whole_transaction_after_a_transient_error(fresh_engine: Engine) -> None:
    attempts = []

    def work(session: Session) -> int:
        user = store.create_user(session=session, username="ada", password_hash="x")  # written, then lost
        attempts.append(user.id)
        if len(attempts) == 1:
            raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
        return user.id

    run_in_transaction(fresh_engine, work, retries=2, backoff_s=0.0)
    assert len(attempts) == 2
    assert _users(fresh_engine) == 1  # the first attempt left nothing behind


def test_retry_does_not_retry_invalid_input(fresh_engine: Engine) -> None:
    calls = []

    def work(session: Session) -> None:
        calls.append(1)
        store.create_user(session=session, username="ada", password_hash="x", role="admin")

    with pytest.raises(InvalidInput):
        run_in_transaction(fresh_engine, work, retries=3, backoff_s=0.0)
    assert calls == [1]


def test_is_transient_rejects_non_database_errors() -> None:
    assert not is_transient(ValueError("database is locked"))


def _hold_write_lock_sqlite(engine: Engine) -> sqlite3.Connection:
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO users (username, password_hash, role, created_at, disabled) "
                   "VALUES ('holder', 'x', 'student', '2026-01-01 00:00:00', 0)")
    return holder


def test_locked_sqlite_database_is_retried_then_reported_with_nothing_written(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade_db(url)
    engine = make_engine(url, busy_timeout_ms=20)
    holder = _hold_write_lock_sqlite(engine)
    attempts = []

    def work(session: Session) -> None:
        attempts.append(1)
        chat = make_chat(session, "ada")
        store.upsert_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=True)

    try:
        with pytest.raises(StoreUnavailable, match="database is locked"):
            run_in_transaction(engine, work, retries=2, backoff_s=0.001)
        assert len(attempts) == 3
    finally:
        holder.rollback()
        holder.close()
    assert _users(engine) == 0
    run_in_transaction(engine, work, retries=0)  # the lock is gone: the same work now succeeds
    assert _users(engine) == 1
    engine.dispose()


@pytest.mark.postgres
def test_locked_postgresql_table_is_retried_then_reported_with_nothing_written(tmp_path) -> None:
    with new_database("postgresql", tmp_path) as url:
        engine = make_engine(url, busy_timeout_ms=50)
        holder = create_engine(url)
        attempts = []

        def work(session: Session) -> None:
            attempts.append(1)
            store.create_user(session=session, username="ada", password_hash="x")

        try:
            with holder.connect() as connection:
                connection.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
                with pytest.raises(StoreUnavailable, match="lock timeout"):
                    run_in_transaction(engine, work, retries=1, backoff_s=0.001)
                connection.rollback()
            assert len(attempts) == 2
            assert _users(engine) == 0
        finally:
            holder.dispose()
            engine.dispose()


@pytest.mark.postgres
def test_unreachable_postgresql_raises_store_unavailable() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    with pytest.raises(StoreUnavailable, match="nothing was saved"):
        run_in_transaction(engine, lambda session: session.execute(text("SELECT 1")), retries=1, backoff_s=0.0)


def test_concurrent_first_ratings_leave_one_row(fresh_engine: Engine) -> None:
    with session_scope(fresh_engine) as session:
        chat = make_chat(session, "ada")
    errors: list[BaseException] = []

    def rate(liked: bool) -> None:
        try:
            run_in_transaction(
                fresh_engine,
                lambda s: store.upsert_rating(session=s, message_id=chat.answer.id, user_id=chat.user.id, liked=liked),
                retries=20,
                backoff_s=0.005,
            )
        except BaseException as error:  # noqa: BLE001 -- surfaced by the assert below
            errors.append(error)

    threads = [threading.Thread(target=rate, args=(i % 2 == 0,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_scope(fresh_engine) as session:
        from feedback.models import Rating

        assert session.scalar(select(func.count()).select_from(Rating)) == 1


def test_database_from_settings_writes_and_reads_through_the_retry(tmp_path) -> None:
    from feedback.db import Database
    from mathchat.settings import DatabaseSettings

    db = Database.from_settings(DatabaseSettings(url=f"sqlite:///{tmp_path / 'app.db'}", write_retries=1))
    db.upgrade()
    user_id = db.write(lambda s: store.create_user(session=s, username="ada", password_hash="x").id)
    assert db.read(lambda s: store.get_user(session=s, user_id=user_id).username) == "ada"
    db.dispose()


@pytest.mark.parametrize("read_only", [True, False])
def test_a_long_read_only_transaction_does_not_make_writers_wait_on_sqlite(tmp_path, read_only: bool) -> None:
    """The cycle reads the logs (thousands of rated samples) while students rate: a read that held SQLite's
    write lock for its whole length made their writes fail with "database is locked" past busy_timeout."""
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    upgrade_db(url)
    engine = make_engine(url, busy_timeout_ms=50)
    run_in_transaction(engine, lambda s: make_chat(s, "ada"))
    reading, release = threading.Event(), threading.Event()

    def long_read(session: Session) -> int:
        count = session.scalar(select(func.count()).select_from(User)) or 0
        reading.set()
        release.wait(10)
        return count

    reader = threading.Thread(target=lambda: run_in_transaction(engine, long_read, retries=0, read_only=read_only))
    reader.start()
    try:
        assert reading.wait(10)
        if read_only:  # the writer goes through while the read is open
            run_in_transaction(engine, lambda s: make_chat(s, "bob"), retries=0)
        else:  # the control: a read begun IMMEDIATE holds the write lock, and the writer gives up
            with pytest.raises(StoreUnavailable, match="database is locked"):
                run_in_transaction(engine, lambda s: make_chat(s, "bob"), retries=0)
    finally:
        release.set()
        reader.join(10)
    assert _users(engine) == (2 if read_only else 1)
    engine.dispose()
