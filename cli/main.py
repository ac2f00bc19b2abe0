"""The `mathchat` command: the operator's entry point. Each area registers its commands from cli/."""

from __future__ import annotations

import typer

from cli import critique, feedback, serve, training

app = typer.Typer(help="mathchat: math-tutoring chat that improves from its own use.", no_args_is_help=True)

for module in (serve, feedback, critique, training):
    module.register(app)


if __name__ == "__main__":
    app()
