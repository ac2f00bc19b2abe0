"""Settings: environment overrides, nesting, and state paths that follow state_dir."""

from __future__ import annotations

from pathlib import Path

from mathchat.settings import Settings


def test_env_overrides_nested_fields(monkeypatch) -> None:
    monkeypatch.setenv("MATHCHAT_SERVER__PORT", "7999")
    monkeypatch.setenv("MATHCHAT_SAMPLING__TEMPERATURE", "0.2")
    s = Settings()
    assert s.server.port == 7999 and s.sampling.temperature == 0.2


def test_state_paths_follow_state_dir(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)
    assert s.database.url == f"sqlite:///{tmp_path / 'mathchat.db'}"
    assert s.vllm.logs_dir == tmp_path / "logs" and s.training.workdir == tmp_path / "runs"


def test_explicit_database_url_is_kept(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert Settings(state_dir=tmp_path, database={"url": url}).database.url == url


def test_auto_promote_is_off_unless_asked_for(monkeypatch) -> None:
    assert Settings().training.auto_promote is False  # an operator reviews the gate by default
    monkeypatch.setenv("MATHCHAT_TRAINING__AUTO_PROMOTE", "true")
    assert Settings().training.auto_promote is True
