"""The shipped default verifier: a folder beside the converted model, used where no verifier is configured or live,
speaking on the policy's own answers and abstaining on answers written in other models' styles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mathchat.settings import CritiqueSettings, ModelSettings, Settings
from serving.critique.critic import build_critic, shipped_verifier
from serving.critique.default_verifier import CHECKPOINT_ID, SHIPPED_DIR, ensure_default_verifier
from serving.critique.verifier import PROBE_FILE, Verifier, read_verifier_config, verifier_part

ROWS = Path(__file__).resolve().parents[3] / "serving" / "critique" / "data" / "cycle_rows_smollm2_20261202.jsonl.gz"
OTHER_STYLE = ("A parking garage charges $2.50 per hour. Maria parked from 9:00 am to 1:30 pm. How much did she pay?",
               "Maria parked for **4.5 hours** (from 9:00 to 1:30).\n\n### Cost\n$$4.5 \\times \\$2.50 = \\$11.25$$\n\n"
               "**Answer: $11.25**")


@pytest.fixture
def model_dir(tmp_path: Path, default_model_path: str) -> Path:
    """A private copy of the converted default model's folder layout (links to its files)."""
    out = tmp_path / "SmolLM2-135M-Instruct"
    out.mkdir()
    for item in Path(default_model_path).iterdir():
        (out / item.name).symlink_to(item.resolve())
    return out


def test_the_shipped_files_are_complete_and_read_the_policys_chat_prompt() -> None:
    spec = read_verifier_config(SHIPPED_DIR)
    probe = json.loads((SHIPPED_DIR / PROBE_FILE).read_text())
    assert spec.head == "mean_probe" and spec.template == "chat" and spec.system
    assert probe["layer"] >= 1 and probe["support"]["min_mean_logprob"] < 0 and len(probe["weight"]) > 100
    calibration = json.loads((SHIPPED_DIR / "calibration.json").read_text())
    assert calibration["coef"]["verifier_logit"] > 0  # fitted with the verifier: its probability counts


def test_the_folder_is_made_once_and_remade_when_the_shipped_files_change(model_dir: Path, tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    shutil.copytree(SHIPPED_DIR, shipped)
    folder = ensure_default_verifier(model_dir, shipped=shipped)
    assert folder == model_dir.parent / "SmolLM2-135M-Instruct-verifier"
    assert (folder / "model.safetensors").is_symlink() and (folder / PROBE_FILE).read_text() == (shipped / PROBE_FILE).read_text()
    made = (folder / PROBE_FILE).stat().st_mtime_ns
    assert ensure_default_verifier(model_dir, shipped=shipped) == folder and (folder / PROBE_FILE).stat().st_mtime_ns == made
    probe = json.loads((shipped / PROBE_FILE).read_text())
    (shipped / PROBE_FILE).write_text(json.dumps(probe | {"bias": probe["bias"] + 1.0}))
    ensure_default_verifier(model_dir, shipped=shipped)
    assert json.loads((folder / PROBE_FILE).read_text())["bias"] == probe["bias"] + 1.0


def test_no_folder_without_the_models_weights(tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    assert ensure_default_verifier(tmp_path / "empty-model") is None


def test_the_critic_uses_it_only_for_the_embedded_default_without_another_verifier(model_dir: Path) -> None:
    settings = Settings(model=ModelSettings(cache_dir=model_dir.parent))
    critic = build_critic(settings, policy=None, judge=None)
    assert critic.verifier is not None and critic.verifier.checkpoint_id == CHECKPOINT_ID
    assert critic.calibration.version == json.loads((SHIPPED_DIR / "calibration.json").read_text())["version"]
    assert shipped_verifier(settings, CritiqueSettings(use_default_verifier=False)) is None
    assert shipped_verifier(settings.model_copy(update={"model": ModelSettings(path=str(model_dir))}),
                            settings.critique) is None  # a configured model: its answers are not the default's


def test_it_speaks_on_the_policys_answers_and_abstains_on_another_writers(model_dir: Path) -> None:
    from mathchat.jsonl import read_jsonl

    verifier = Verifier(ensure_default_verifier(model_dir), checkpoint_id=CHECKPOINT_ID, dtype="float32")
    held = [r for r in read_jsonl(ROWS) if r["split"] == "held_out"][:24]  # the policy's own, never trained on
    own = verifier.scores([(r["question"], r["answer"]) for r in held])
    assert sum(s.in_support for s in own) >= 20 and all(0.0 < s.p < 1.0 for s in own)
    other = verifier_part(verifier, *OTHER_STYLE)
    assert other.score is None and other.data["abstained"] and "abstains" in other.detail
