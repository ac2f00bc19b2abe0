"""CLI commands for the feedback area: `mathchat db upgrade`, `mathchat user add`, `mathchat export`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

db_app = typer.Typer(help="The feedback database.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts.", no_args_is_help=True)


def _parse_time(value: str | None) -> datetime | None:
    """An ISO date/time; a time without zone is taken as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not an ISO date/time (e.g. 2026-11-25 or 2026-11-25T12:00)") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _database_url(url: str | None) -> str:
    from mathchat.settings import load_settings

    return url or load_settings().database.url


@db_app.command("upgrade")
def db_upgrade(
    url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default: settings (MATHCHAT_DATABASE__URL).")] = None,
) -> None:
    """Create or migrate the schema to the latest revision (safe to repeat)."""
    from feedback.db import current_revision, make_engine, upgrade_db

    target = _database_url(url)
    upgrade_db(target)
    engine = make_engine(target)
    typer.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Username (3-32 letters, digits, _ . -).")],
    role: Annotated[str, typer.Option(help="student or operator.")] = "student",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default: settings.")] = None,
) -> None:
    """Create an account (the password is prompted for, or read from stdin)."""
    from feedback.auth import register_user
    from feedback.db import make_engine, run_in_transaction, upgrade_db
    from feedback.errors import InvalidInput

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    target = _database_url(url)
    upgrade_db(target)
    engine = make_engine(target)
    try:
        user = run_in_transaction(
            engine, lambda session: register_user(session=session, username=name, password=password, role=role)
        )
    except InvalidInput as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    finally:
        engine.dispose()
    typer.echo(f"created {user.role} {user.username!r} (id {user.id})")


def export(
    format: Annotated[str, typer.Option("--format", help="sft, dpo, kto or mathusereval.")],
    out: Annotated[Path, typer.Option(help="JSONL file to write (a .manifest.json goes beside it).")],
    since: Annotated[str | None, typer.Option(help="Answers from this ISO date/time (UTC if no zone).")] = None,
    until: Annotated[str | None, typer.Option(help="Answers before this ISO date/time (exclusive).")] = None,
    checkpoint: Annotated[str | None, typer.Option(help="Only answers written by this checkpoint id.")] = None,
    min_score: Annotated[int | None, typer.Option(help="Lowest critique score (sft defaults to the pass mark, 7).")] = None,
    max_score: Annotated[int | None, typer.Option(help="Highest critique score.")] = None,
    url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default: settings.")] = None,
) -> None:
    """Export stored chats as TRL conversational JSONL (sft/dpo/kto) or MathUserEval rows."""
    from tqdm import tqdm

    from feedback.db import make_engine, session_scope
    from mathchat.settings import load_settings
    from training.export import EXPORT_FORMATS, ExportFilters, write_export
    from feedback.registry import record_dataset

    if format not in EXPORT_FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(EXPORT_FORMATS)}", param_hint="--format")
    filters = ExportFilters(
        since=_parse_time(since), until=_parse_time(until), checkpoint_id=checkpoint,
        min_score=min_score, max_score=max_score,
    )
    engine = make_engine(_database_url(url))
    try:
        with session_scope(engine) as session, tqdm(unit=" rows", desc=f"export {format}", file=sys.stderr) as bar:
            critique = load_settings().critique
            manifest = write_export(session=session, fmt=format, out=out, filters=filters, on_row=lambda _: bar.update(),
                                    pass_mark=critique.pass_threshold, verdict=critique.verdict)
            if format != "mathusereval":
                record_dataset(session=session, kind=format, path=str(out.resolve()), count=manifest.count,
                               content_hash=manifest.content_hash, manifest=manifest.__dict__)
    finally:
        engine.dispose()
    typer.echo(f"wrote {manifest.count} {format} rows to {out} ({manifest.content_hash[:19]}…)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `mathchat` CLI."""
    app.add_typer(db_app, name="db")
    app.add_typer(user_app, name="user")
    app.command("export")(export)
