"""cli/serve.py: `mathchat promote` / `mathchat rollback` record the promotion and print what changed."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from cli.serve import register
from feedback import registry
from feedback.db import make_engine, run_in_transaction, upgrade_db


def test_promote_and_rollback_print_the_change_with_its_automatic_flag(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade_db(url)
    engine = make_engine(url)

    def loop(s) -> None:  # noqa: ANN001
        registry.register_checkpoint(session=s, checkpoint_id="base", path="/m", kind="base", status="live")
        registry.register_checkpoint(session=s, checkpoint_id="rft-1", path="/r", kind="rft", gate_passed=True)

    run_in_transaction(engine, loop)
    engine.dispose()
    app = typer.Typer()
    register(app)
    env = {"MATHCHAT_DATABASE__URL": url}
    runner = CliRunner()
    promoted = runner.invoke(app, ["promote", "rft-1", "--by", "olga"], env=env)
    assert promoted.exit_code == 0, promoted.output
    assert json.loads(promoted.stdout.splitlines()[0]) == {"action": "promote", "from_id": "base", "to_id": "rft-1",
                                                           "override": False, "automatic": False}
    rolled = runner.invoke(app, ["rollback"], env=env)
    assert rolled.exit_code == 0 and json.loads(rolled.stdout.splitlines()[0])["to_id"] == "base"
