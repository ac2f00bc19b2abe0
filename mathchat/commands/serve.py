"""CLI commands for the serve area."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `mathchat` CLI."""
