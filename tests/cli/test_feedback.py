"""cli/feedback.py: db upgrade, user add, export (SQLite; the store itself is tested on both DBs)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from feedback import auth, store
from feedback.db import make_engine, session_scope
from feedback.models import Dataset
from cli.feedback import register
from serving.critique.types import CritiqueResult


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_db_upgrade_user_add_and_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    app = _app()
    result = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert result.exit_code == 0, result.output
    head = max(p.name.split("_")[1] for p in (Path(__file__).parents[2] / "feedback" / "migrations" / "versions")
               .glob("2*_*.py"))
    assert f"revision {head}" in result.output  # the newest migration, whichever that is

    result = runner.invoke(app, ["user", "add", "ada", "--role", "operator", "--password-stdin", "--url", url],
                           input="correct horse\n")
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    with session_scope(engine) as session:
        user = auth.authenticate(session=session, username="ada", password="correct horse")
        assert user is not None and user.role == "operator"
        conversation = store.create_conversation(session=session, user_id=user.id)
        q = store.add_user_message(session=session, conversation_id=conversation.id, user_id=user.id, content="1+1?")
        a = store.begin_assistant_message(session=session, conversation_id=conversation.id, parent_id=q.id,
                                          checkpoint_id="base", sampling={})
        store.finish_assistant_message(session=session, message_id=a.id, status="ok", text="2")
        store.save_critique(session=session, message_id=a.id, row=CritiqueResult(
            score=10, band="9-10", passed=True, confidence=0.9, explanation="", parts={},
            critic_version="c", calibration_version="k").to_row())

    out = tmp_path / "out" / "sft.jsonl"
    result = runner.invoke(app, ["export", "--format", "sft", "--out", str(out), "--since", "2026-01-01", "--url", url])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["completion"][0]["content"] for line in out.read_text().splitlines()] == ["2"]
    with session_scope(engine) as session:
        [dataset] = session.query(Dataset).all()
        assert (dataset.kind, dataset.count) == ("sft", 1)
    engine.dispose()


def test_user_add_reports_a_weak_password_without_creating_the_user(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(_app(), ["user", "add", "bob", "--password-stdin", "--url", url], input="short\n")
    assert result.exit_code == 2
    assert "at least" in result.output
    engine = make_engine(url)
    with session_scope(engine) as session:
        assert store.get_user_by_name(session=session, username="bob") is None
    engine.dispose()


def test_export_refuses_an_unknown_format(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["export", "--format", "csv", "--out", str(tmp_path / "x.jsonl"),
                                         "--url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code != 0
