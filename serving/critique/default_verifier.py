"""The shipped verifier: a probe fitted on the embedded default model's own labelled answers, usable from the
first chat, before any cycle has trained one.

The repository ships only its small files (``data/default_verifier/``: ``verifier.json``, ``probe.json`` with its
support, ``calibration.json``; written by ``python -m training.default_verifier``). The probe reads the embedded
SmolLM2-135M-Instruct, whose conversion from the packaged GGUF is deterministic, so ``ensure_default_verifier``
makes a checkpoint folder of them beside the converted model: the small files copied, the model's weights,
config and tokenizer linked. The critic uses it only where no verifier is configured or live and the policy is
the embedded default (another model's answers lie outside its support); a cycle's verifier must beat it on
held-out rows to replace it, as any live verifier.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from serving.critique.verifier import CALIBRATION_FILE, CONFIG_FILE, PROBE_FILE, Verifier, open_verifier

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).parent / "data" / "default_verifier"
"""Where the shipped probe, support, input spec and calibration live."""
CHECKPOINT_ID = "verifier-default-smollm2"
"""Its id wherever a verifier is named (explanations, the console, the verifier gate)."""
_OWN_FILES = (CONFIG_FILE, PROBE_FILE, CALIBRATION_FILE)
_MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def _fingerprint(directory: Path) -> str:
    """What ties a folder to the shipped files: their bytes, so an updated probe remakes the folder."""
    import hashlib

    digest = hashlib.sha256()
    for name in _OWN_FILES:
        digest.update((directory / name).read_bytes())
    return digest.hexdigest()[:16]


def ensure_default_verifier(model_dir: Path, *, shipped: Path = SHIPPED_DIR) -> Path | None:
    """The default verifier's checkpoint folder beside the converted default model (``<model_dir>-verifier``),
    made (or remade after the shipped files changed) on first use; None when nothing is shipped or the model
    folder lacks its weights."""
    if not all((shipped / name).is_file() for name in _OWN_FILES) or not (model_dir / "model.safetensors").is_file():
        return None
    out = model_dir.parent / f"{model_dir.name}-verifier"
    stamp = out / "shipped.sha256"
    if stamp.is_file() and stamp.read_text().strip() == _fingerprint(shipped):
        return out
    staging = out.parent / f".{out.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in _OWN_FILES:
        shutil.copyfile(shipped / name, staging / name)
    for name in _MODEL_FILES:
        if (model_dir / name).is_file():
            (staging / name).symlink_to((model_dir / name).resolve())
    (staging / "shipped.sha256").write_text(_fingerprint(shipped))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)  # whole or not at all: a reader never sees half a folder
    log.info("default verifier ready at %s", out)
    return out


def load_default_verifier(model_dir: Path, *, dtype: str = "auto", num_threads: int | None = 1) -> Verifier | None:
    """The shipped verifier for the embedded model in ``model_dir`` (lazy: no weights read yet), or None."""
    try:
        folder = ensure_default_verifier(model_dir)
        return None if folder is None else open_verifier(folder, checkpoint_id=CHECKPOINT_ID, dtype=dtype,
                                                         num_threads=num_threads)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
        log.warning("default verifier unusable (%s); critiquing without it", error)
        return None
