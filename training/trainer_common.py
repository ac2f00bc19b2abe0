"""What the SFT and DPO trainers share: device/precision choice, model loading, TRL args, checkpoint writing.

A checkpoint folder is what vLLM and transformers load (weights + tokenizer with the pad fix) plus
``mathchat_checkpoint.json``: parent, data manifest, config, precision and training metrics.

Precision: the weights train in fp32 whatever computes (bf16 autocast where it is native, see
``load_model``), and are saved in fp32. Serving casts on load to its own dtype (vLLM ``--dtype``,
``HFEngine`` through ``local_dtype``), the perplexity check reads fp32, and the next RFT round or DPO
starts from the saved weights. A bf16 file would add rounding noise as large as a small run's whole
update (on the tiny model of ``tests/training/test_trainer_common.py``, 4 steps at 1e-5: the rounded
update is off by 73% of its norm, and 49% of the weights would not move), once more each round. The cost
is disk: 540 MB per SmolLM2-135M checkpoint instead of 270 MB.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from mathchat.hardware import has_cuda, local_dtype, resolve_threads
from serving.model_cache import PAD_TOKEN
from training.config import TrainerSettings
from training.formats import FORMAT_VERSION

METADATA_FILE = "mathchat_checkpoint.json"


def use_bf16(cfg: TrainerSettings) -> bool:
    """bf16 compute where it is native: GPUs that support it and AVX-512 CPUs (emulated on AVX2: a DPO step took
    107 s). ``auto`` follows the model dtype setting (``MATHCHAT_MODEL__DTYPE``), so one variable puts serving
    and training on the same arithmetic, e.g. fp32 on an AVX-512 machine to reproduce an AVX2 one."""
    if cfg.bf16 != "auto":
        return bool(cfg.bf16)
    from mathchat.settings import load_settings

    return local_dtype(load_settings().model.dtype) == "bfloat16"


def precision(cfg: TrainerSettings) -> dict[str, str]:
    """What a run computes in and what it keeps, for the checkpoint's metadata.

    >>> precision(TrainerSettings(bf16=True))
    {'compute': 'bf16 autocast', 'weights': 'fp32', 'optimizer': 'fp32', 'saved': 'fp32'}
    """
    return {"compute": "bf16 autocast" if use_bf16(cfg) else "fp32", "weights": "fp32", "optimizer": "fp32",
            "saved": "fp32"}


def pin_threads(cfg: TrainerSettings) -> None:
    """Pin torch CPU threads (2 threads under contention ran 25x slower than 1)."""
    threads = resolve_threads(cfg.num_threads)
    if threads and not has_cuda():
        import torch

        torch.set_num_threads(threads)


def load_tokenizer(model_path: str):
    """Tokenizer with the pad fix, right-padded for training."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.pad_token = PAD_TOKEN
    tokenizer.padding_side = "right"
    return tokenizer


def load_model(model_path: str, cfg: TrainerSettings, tokenizer):
    """Causal LM with fp32 master weights whatever the compute dtype, pad id aligned with the tokenizer.

    With bf16 on, ``common_args`` sets ``bf16=True``, which on an fp32 model is autocast mixed precision
    (accelerate's ``mixed_precision="bf16"``): matmuls run in bf16, while weights, gradients and AdamW's state
    stay fp32. Training bf16 weights directly (what this function did before) rounds away every update smaller
    than half a bf16 step of its weight (2**-9 relative): at DPO's 1e-5, most of them.
    ``tests/training/test_trainer_common.py`` trains a tiny model all three ways.
    """
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def peft_config(cfg: TrainerSettings):
    """A peft LoraConfig when LoRA is enabled, else None (full fine-tune)."""
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")


def common_args(cfg: TrainerSettings, output_dir: Path) -> dict[str, Any]:
    """TrainingArguments shared by SFTConfig and DPOConfig (DESIGN.md's measured TRL 1.16 settings)."""
    return dict(
        output_dir=str(output_dir / "_trainer"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a fraction of the steps
        bf16=use_bf16(cfg),
        gradient_checkpointing=False,
        max_length=cfg.max_length,
        use_cpu=not has_cuda(),
        report_to="none",
        logging_steps=cfg.logging_steps,
        save_strategy="no",
        seed=cfg.seed,
        dataloader_num_workers=0,
    )


def save_checkpoint(trainer, tokenizer, output_dir: Path, cfg: TrainerSettings, metadata: dict[str, Any]) -> Path:
    """Save weights (LoRA merged when configured), tokenizer and metadata; only the main process writes."""
    output_dir = Path(output_dir)
    trainer.accelerator.wait_for_everyone()
    if cfg.lora.enabled and cfg.lora.merge:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if trainer.accelerator.is_main_process:
            merged = model.merge_and_unload()
            merged.save_pretrained(output_dir)
    else:
        trainer.save_model(str(output_dir))
    if trainer.accelerator.is_main_process:
        tokenizer.padding_side = "left"  # generation-side default for whoever loads it
        tokenizer.save_pretrained(output_dir)
        write_metadata(output_dir, metadata)
        shutil.rmtree(output_dir / "_trainer", ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return output_dir


def train_metrics(trainer, train_result) -> dict[str, Any]:
    """Final train metrics plus the per-step log (loss, lr, and for DPO rewards/margins)."""
    return {"train": dict(train_result.metrics), "log": list(trainer.state.log_history),
            "world_size": int(os.environ.get("WORLD_SIZE", "1"))}


def write_metadata(output_dir: Path, metadata: dict[str, Any]) -> None:
    """Write ``mathchat_checkpoint.json`` into a checkpoint folder."""
    data = {"format_version": FORMAT_VERSION, **metadata}
    (Path(output_dir) / METADATA_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str),
                                                  encoding="utf-8")


def read_metadata(checkpoint_dir: Path) -> dict[str, Any]:
    """The checkpoint's metadata ({} for folders we did not write, e.g. the base model)."""
    path = Path(checkpoint_dir) / METADATA_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
