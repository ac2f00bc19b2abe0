"""RFT's supervised step: TRL SFTTrainer on conversational prompt/completion rows, loss on the completion only.

SmolLM2's chat template has no ``{% generation %}`` markers, so ``assistant_only_loss`` cannot work;
prompt/completion rows with ``completion_only_loss`` give the same effect.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.config import SFTTrainSettings
from training.formats import SFTRow
from training.trainer_common import (common_args, load_model, load_tokenizer, peft_config, pin_threads,
                                     precision, save_checkpoint, train_metrics)


def train_sft(rows: Sequence[SFTRow], base_model_path: str | Path, output_dir: str | Path,
              cfg: SFTTrainSettings = SFTTrainSettings(), *, metadata: dict[str, Any] | None = None) -> Path:
    """Fine-tune ``base_model_path`` on ``rows``; returns the checkpoint folder (weights, tokenizer, metadata)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if not rows:
        raise ValueError("no SFT rows")
    pin_threads(cfg)
    output_dir = Path(output_dir)
    tokenizer = load_tokenizer(str(base_model_path))
    model = load_model(str(base_model_path), cfg, tokenizer)
    sampling = "group_by_length" if cfg.group_by_length else "random"
    args = SFTConfig(**common_args(cfg, output_dir), completion_only_loss=True, train_sampling_strategy=sampling)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(list(rows)),
                         processing_class=tokenizer, peft_config=peft_config(cfg))
    started = time.monotonic()
    result = trainer.train()
    meta = {"kind": "sft", "parent_path": str(base_model_path), "config": cfg.model_dump(mode="json"),
            "precision": precision(cfg), "rows": len(rows), "train_seconds": round(time.monotonic() - started, 1),
            "metrics": train_metrics(trainer, result), **(metadata or {})}
    return save_checkpoint(trainer, tokenizer, output_dir, cfg, meta)
