"""Which arithmetic a training job uses: an explicit bf16 setting wins; ``auto`` follows the model dtype setting."""

from __future__ import annotations

import pytest

from training.config import SFTTrainSettings
from training.trainer_common import use_bf16


@pytest.mark.parametrize(("env", "expected"), [("float32", False), ("bfloat16", True)])
def test_auto_follows_the_model_dtype_setting(monkeypatch, env: str, expected: bool) -> None:
    monkeypatch.setenv("MATHCHAT_MODEL__DTYPE", env)
    assert use_bf16(SFTTrainSettings(bf16="auto")) is expected


def test_explicit_setting_wins_over_the_model_dtype(monkeypatch) -> None:
    monkeypatch.setenv("MATHCHAT_MODEL__DTYPE", "float32")
    assert use_bf16(SFTTrainSettings(bf16=True)) is True
    monkeypatch.setenv("MATHCHAT_MODEL__DTYPE", "bfloat16")
    assert use_bf16(SFTTrainSettings(bf16=False)) is False
