"""The DPO step: TRL DPOTrainer with ChatGLM-Math's extra cross-entropy on the chosen answer.

TRL 1.x dropped ``rpo_alpha``; the same loss is ``loss_type=["sigmoid", "sft"]`` with
``loss_weights=[1.0, sft_weight]``. The reference model is a frozen copy of the starting model
(or the adapter-disabled base under LoRA).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.config import DPOTrainSettings
from training.formats import PreferenceRow
from training.trainer_common import (common_args, load_model, load_tokenizer, peft_config, pin_threads,
                                     precision, save_checkpoint, train_metrics)


def train_dpo(pairs: Sequence[PreferenceRow], model_path: str | Path, output_dir: str | Path,
              cfg: DPOTrainSettings = DPOTrainSettings(), *, metadata: dict[str, Any] | None = None) -> Path:
    """DPO(+CE) on ``pairs`` starting from ``model_path``; returns the checkpoint folder."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if not pairs:
        raise ValueError("no preference pairs")
    pin_threads(cfg)
    output_dir = Path(output_dir)
    tokenizer = load_tokenizer(str(model_path))
    model = load_model(str(model_path), cfg, tokenizer)
    args = DPOConfig(**common_args(cfg, output_dir), beta=cfg.beta, loss_type=["sigmoid", "sft"],
                     loss_weights=[1.0, cfg.sft_weight])
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(list(pairs)),
                         processing_class=tokenizer, peft_config=peft_config(cfg))
    started = time.monotonic()
    result = trainer.train()
    meta = {"kind": "dpo", "parent_path": str(model_path), "config": cfg.model_dump(mode="json"),
            "precision": precision(cfg), "pairs": len(pairs), "train_seconds": round(time.monotonic() - started, 1),
            "metrics": train_metrics(trainer, result), **(metadata or {})}
    return save_checkpoint(trainer, tokenizer, output_dir, cfg, meta)
