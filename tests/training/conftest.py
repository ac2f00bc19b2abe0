"""Fixtures for the training tests: a migrated temporary SQLite database and settings pointing into tmp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mathchat.settings import DatabaseSettings, ModelSettings, Settings, TrainingSettings, load_settings


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    from feedback.db import upgrade_db

    url = f"sqlite:///{tmp_path / 'mathchat.db'}"
    upgrade_db(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    from feedback.db import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    base = load_settings()
    return load_settings(
        state_dir=tmp_path,
        database=DatabaseSettings(url=db_url),
        training=TrainingSettings(workdir=tmp_path / "runs"),
        model=ModelSettings(cache_dir=base.model.cache_dir, checkpoints_dir=tmp_path / "checkpoints"),
    )


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer, 64-wide Llama causal LM with the default model's tokenizer, stored in bf16 like the base
    model: what a policy folder looks like, small enough to train in seconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from serving.model_cache import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(load_settings()))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
