"""The embedded default model: found in its package, converted to a complete HF folder with a chat template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mathchat.settings import ModelSettings, Settings
from serving.model_cache import ModelUnavailable, find_embedded_gguf, is_complete_model_dir, resolve_model_path


def test_embedded_gguf_is_found() -> None:
    assert find_embedded_gguf().stat().st_size > 50_000_000


def test_default_model_folder_is_complete_with_chat_template(default_model_path: str) -> None:
    path = Path(default_model_path)
    assert is_complete_model_dir(path)
    tok = json.loads((path / "tokenizer_config.json").read_text())
    template = (path / "chat_template.jinja").read_text() if (path / "chat_template.jinja").exists() else tok.get(
        "chat_template", "")
    assert "<|im_start|>" in template
    assert tok.get("pad_token") == "<|endoftext|>", "pad must not be the end-of-turn token"


def test_partial_folder_is_not_complete(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert not is_complete_model_dir(tmp_path)


def test_hub_id_refused_unless_allowed() -> None:
    with pytest.raises(ModelUnavailable, match="hub"):
        resolve_model_path(Settings(model=ModelSettings(path="someorg/some-model")))
    assert resolve_model_path(Settings(model=ModelSettings(path="someorg/some-model", allow_hub=True))) == \
        "someorg/some-model"
