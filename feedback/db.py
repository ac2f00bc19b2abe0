"""Engines, transactions, migrations and the retry of transient write failures.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout; PostgreSQL runs
through psycopg 3 (``postgresql+psycopg://``). Callers own transactions: ``session_scope`` for one
unit of work, ``run_in_transaction`` for a write that must survive a briefly locked or restarting
database (it re-runs the whole unit, then raises ``StoreUnavailable`` -- never drops it silently).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from feedback.errors import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"

_TRANSIENT_MARKERS = (
    "database is locked",
    "database is busy",
    "database table is locked",
    "connection refused",
    "could not connect",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "the database system is starting up",
    "the database system is shutting down",
    "could not serialize access",
    "deadlock detected",
    "lock timeout",
    "timeout expired",
    "connection timeout expired",
)


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False, connect_timeout_s: float = 5.0,
                pool_timeout_s: float = 10.0) -> Engine:
    """An engine for ``url`` with the per-connection settings this app relies on.

    SQLite: WAL (readers never block the writer), ``synchronous=NORMAL`` (durable across app
    crashes; WAL's usual pairing), ``foreign_keys=ON``, ``busy_timeout``, and explicit ``BEGIN``
    so SAVEPOINTs and transactional DDL work. The parent folder of a SQLite file is created.
    PostgreSQL: ``lock_timeout`` = ``busy_timeout_ms``, so a held lock fails fast into the retry; a server that
    does not answer fails a connect after ``connect_timeout_s`` and a full pool a checkout after ``pool_timeout_s``
    (both then count as transient), instead of hanging the request.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True, echo=echo, pool_timeout=pool_timeout_s,
                               connect_args={"connect_timeout": max(1, round(connect_timeout_s))})

        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_connection: Any, _record: Any) -> None:
            # PostgreSQL's counterpart of busy_timeout: give up waiting for a row/table lock (then we retry).
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            dbapi_connection.autocommit = autocommit

        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # No pre-ping: a local file cannot drop a connection, and the ping was one more round trip per rating.
    engine = create_engine(url, echo=echo)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Write transactions begin IMMEDIATE: a deferred one that reads and then writes fails at once with
        # SQLITE_BUSY (busy_timeout does not apply) when another writer committed in between.
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


@contextmanager
def session_scope(engine: Engine, *, immediate: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back if it raises.

    Objects stay readable after the commit (``expire_on_commit=False``): the UI reads them afterwards.
    ``immediate`` takes SQLite's write lock at BEGIN (waiting up to busy_timeout), for transactions that write.
    """
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if immediate else engine
    with Session(bind, expire_on_commit=False) as session, session.begin():
        yield session


def serialize_on(session: Session, name: str) -> None:
    """Hold a transaction-scoped lock on ``name`` until the caller's transaction ends, so check-then-write
    units on the same name run one after another: ``pg_advisory_xact_lock`` on PostgreSQL; on SQLite every
    write transaction already holds the database's one write lock (BEGIN IMMEDIATE), so nothing is needed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"mathchat:{name}"})


def is_transient(error: BaseException) -> bool:
    """Whether a database error is worth retrying the whole transaction for (lock, restart, conflict).

    >>> import sqlite3
    >>> is_transient(OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked")))
    True
    >>> is_transient(OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such table: users")))
    False
    """
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    text = str(error.orig if error.orig is not None else error).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def run_in_transaction(
    engine: Engine,
    work: Callable[[Session], T],
    *,
    retries: int = 3,
    backoff_s: float = 0.1,
    read_only: bool = False,
) -> T:
    """Run ``work(session)`` in its own transaction, re-running it all after a transient failure.

    Each attempt is a fresh transaction, so a failed attempt leaves nothing half-written. On SQLite it
    begins IMMEDIATE (waits for the write lock) unless ``read_only``.
    After ``retries`` extra attempts, raises ``StoreUnavailable`` (the UI shows its message).
    Other errors (``InvalidInput``, integrity errors, bugs) propagate at once, after rollback.
    """
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            with session_scope(engine, immediate=not read_only) as session:
                return work(session)
        except DBAPIError as error:
            if not is_transient(error):
                raise
            last = error
            log.warning("transient database error (attempt %d/%d): %s", attempt + 1, retries + 1, error.orig)
            if attempt < retries:
                time.sleep(backoff_s * 2**attempt)
    reason = getattr(last, "orig", None) or last
    raise StoreUnavailable(
        f"The database is unavailable ({str(reason).strip().splitlines()[0]}); "
        f"nothing was saved after {retries + 1} attempts. Please try again in a moment."
    ) from last


class Database:
    """An engine plus the retry policy from settings: what the app and jobs hold.

    ``db.write(lambda s: store.upsert_rating(session=s, ...))`` runs one retried transaction;
    ``db.read`` the same for reads, without the write lock (a restart of the DB server is transient for them too).
    Building it connects to nothing.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, write_retries: int = 3) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        self.write_retries = write_retries

    @classmethod
    def from_settings(cls, settings: Any) -> Database:
        """From ``Settings.database`` (a ``DatabaseSettings``)."""
        return cls(settings.url, busy_timeout_ms=settings.busy_timeout_ms, write_retries=settings.write_retries)

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one committed transaction, retried on transient errors (``StoreUnavailable`` after)."""
        return run_in_transaction(self.engine, work, retries=self.write_retries)

    def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one read-only transaction, retried on transient errors: on SQLite it takes no write
        lock (WAL readers never wait for the writer), so a long read cannot make the app's writes wait."""
        return run_in_transaction(self.engine, work, retries=self.write_retries, read_only=True)

    def upgrade(self) -> None:
        """Migrate the schema to the latest revision."""
        upgrade_db(self.url)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def upgrade_db(url: str, revision: str = "head") -> None:
    """Run the Alembic migrations on ``url`` up to ``revision`` (creates the whole schema on a new DB).

    On SQLite, foreign keys are switched off for the duration (batch migrations recreate tables,
    which would otherwise cascade deletes) and checked afterwards.
    """
    _migrate(url, "upgrade", revision)


def downgrade_db(url: str, revision: str) -> None:
    """Run the Alembic migrations on ``url`` down to ``revision`` (``"base"`` drops the schema)."""
    _migrate(url, "downgrade", revision)


def _migrate(url: str, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            # PRAGMA foreign_keys is ignored inside a transaction: set it on the raw (autocommit) driver connection.
            raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = OFF")
            config = Config(str(ALEMBIC_INI))
            config.attributes["connection"] = connection
            getattr(command, direction)(config, revision)
            if connection.in_transaction():
                connection.commit()
            if raw is not None:
                problems = raw.execute("PRAGMA foreign_key_check").fetchall()
                raw.execute("PRAGMA foreign_keys = ON")
                if problems:
                    raise RuntimeError(f"migration left foreign-key violations: {problems[:5]}")
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
