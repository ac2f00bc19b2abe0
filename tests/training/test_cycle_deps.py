"""The cycle's critic judges logged questions (no reference) with the verifier the app uses now."""

from __future__ import annotations

from pathlib import Path

from mathchat.settings import CritiqueSettings, DatabaseSettings, ModelSettings, Settings
from serving.critique.default_verifier import CHECKPOINT_ID
from training.cycle_deps import cycle_verifier


def test_with_no_live_verifier_the_cycle_uses_the_shipped_one(tmp_path: Path, default_model_path: str) -> None:
    model_dir = tmp_path / "SmolLM2-135M-Instruct"
    model_dir.mkdir()
    for item in Path(default_model_path).iterdir():
        (model_dir / item.name).symlink_to(item.resolve())
    settings = Settings(model=ModelSettings(cache_dir=tmp_path),
                        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'empty.db'}"))
    assert cycle_verifier(settings).checkpoint_id == CHECKPOINT_ID  # an empty store: no live verifier
    off = settings.model_copy(update={"critique": CritiqueSettings(use_verifier=False)})
    assert cycle_verifier(off) is None
