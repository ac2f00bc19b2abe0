"""CLI commands for serving: prepare the default model, run the app, promote and roll back checkpoints."""

from __future__ import annotations

import json
from collections.abc import Callable

import typer

from mathchat.settings import load_settings


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `mathchat` CLI."""

    @app.command("prepare-model")
    def prepare_model(check: bool = typer.Option(True, help="Generate a few tokens to check the folder.")) -> None:
        """Convert the embedded SmolLM2-135M-Instruct GGUF into an HF folder (once) and print its path; beside it,
        the shipped default verifier's folder."""
        from serving.critique.default_verifier import ensure_default_verifier
        from serving.model_cache import ensure_default_model, resolve_model_path

        settings = load_settings()
        if settings.model.path:
            typer.echo(resolve_model_path(settings))
            return
        model = ensure_default_model(settings, check=check)
        typer.echo(model)
        verifier = ensure_default_verifier(model)
        if verifier is not None:
            typer.echo(f"default verifier: {verifier}")

    @app.command("serve")
    def serve() -> None:
        """Start the web app (same as `python app.py`)."""
        import app as web

        web.main()

    def record(action: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Run a promotion action against the configured DB; refusals print and exit 2."""
        from feedback.db import make_engine, upgrade_db
        from feedback.errors import InvalidInput

        settings = load_settings()
        upgrade_db(settings.database.url)
        try:
            result = action(make_engine(settings.database.url), *args, **kwargs)
        except InvalidInput as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(json.dumps(result.__dict__))
        typer.echo("Recorded. A running app switches to it within seconds; follow `switch.state` in "
                   "GET /api/operator/status (pending, switching, done or failed).", err=True)

    @app.command("promote")
    def promote_cmd(checkpoint_id: str, override: bool = typer.Option(
            False, help="Promote even though the candidate failed its evaluation gate (recorded)."),
            by: str = typer.Option("cli", help="Who promotes (recorded).")) -> None:
        """Make a candidate live; the running app switches to it blue/green within seconds."""
        from console.promotion import promote

        record(promote, checkpoint_id, by_user=by, override=override)

    @app.command("rollback")
    def rollback_cmd(by: str = typer.Option("cli", help="Who rolls back (recorded).")) -> None:
        """Return to the previous live checkpoint."""
        from console.promotion import rollback

        record(rollback, by_user=by)
