"""Alembic environment: migrate the connection handed in by ``feedback.db.upgrade_db``, or a URL.

The URL comes from the ``sqlalchemy.url`` option if set, else ``MATHCHAT_DATABASE__URL``,
else the settings default. ``render_as_batch`` lets ALTERs work on SQLite.
"""

from __future__ import annotations

from alembic import context

from feedback.models import Base, UTCDateTime

target_metadata = Base.metadata
config = getattr(context, "config", None)  # None when imported outside Alembic (e.g. pytest --doctest-modules)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from mathchat.settings import load_settings

    return load_settings().database.url  # reads MATHCHAT_DATABASE__URL


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our UTCDateTime as a plain timezone-aware DateTime, so migrations never import the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from feedback.db import make_engine

    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            if conn.in_transaction():
                conn.commit()
    finally:
        engine.dispose()


if config is not None:
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
