"""Training results do not depend on the arithmetic: on a tiny random Llama, fp32 and the bf16 mixed-precision
path (fp32 master weights, bf16 autocast) move the weights the same way; training bf16 weights directly, as
``load_model`` once did, rounds most of the update away.

Marked ``training``: three real ``train_sft`` runs of 4 steps each on a 2-layer, 64-wide model (a few
seconds each on 2 cores). The learning rate is DPO's 1e-5, where the old path lost most of its steps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import SFTTrainSettings

pytestmark = pytest.mark.training

SYSTEM = {"role": "system", "content": "Answer briefly."}
ROWS = [{"prompt": [SYSTEM, {"role": "user", "content": f"What is {i} + {i}?"}],
         "completion": [{"role": "assistant", "content": f"{i} + {i} = {2 * i}. The answer is {2 * i}."}]}
        for i in range(1, 9)]
SETTINGS = dict(max_steps=4, batch_size=4, max_length=64, learning_rate=1e-5, lr_scheduler="constant",
                group_by_length=False, num_threads=1)


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(Path(folder) / "model.safetensors")


def weight_delta(trained: Path, base: Path):
    """All weights' change, flattened, in float64."""
    import torch

    before, after = weights(base), weights(trained)
    return torch.cat([(after[k].double() - before[k].double()).flatten() for k in sorted(before)])


def agreement(delta, reference) -> tuple[float, float]:
    """(relative norm of the difference, cosine) of a weight delta against the fp32 one."""
    import torch

    rel = float((delta - reference).norm() / reference.norm())
    return rel, float(torch.nn.functional.cosine_similarity(delta, reference, dim=0))


def test_bf16_mixed_precision_updates_match_fp32_and_pure_bf16_does_not(tiny_llama, tmp_path, monkeypatch):
    import torch

    import training.sft as sft
    from training.sft import train_sft

    fp32 = train_sft(ROWS, tiny_llama, tmp_path / "fp32", SFTTrainSettings(bf16=False, **SETTINGS))
    mixed = train_sft(ROWS, tiny_llama, tmp_path / "mixed", SFTTrainSettings(bf16=True, **SETTINGS))
    load = sft.load_model
    monkeypatch.setattr(sft, "load_model", lambda *a: load(*a).to(torch.bfloat16))  # the old path
    pure = train_sft(ROWS, tiny_llama, tmp_path / "pure", SFTTrainSettings(bf16=True, **SETTINGS))

    assert {str(w.dtype) for w in weights(mixed).values()} == {"torch.float32"}  # master weights kept and saved
    reference = weight_delta(fp32, tiny_llama)
    mixed_delta, pure_delta = weight_delta(mixed, tiny_llama), weight_delta(pure, tiny_llama)
    (mixed_rel, mixed_cos), (pure_rel, pure_cos) = agreement(mixed_delta, reference), agreement(pure_delta, reference)
    unchanged = float((pure_delta == 0).double().mean())
    print(f"\nweight delta vs fp32: mixed rel {mixed_rel:.4f} cos {mixed_cos:.5f}; "
          f"pure bf16 rel {pure_rel:.4f} cos {pure_cos:.5f}, {unchanged:.1%} of weights unchanged")
    assert mixed_rel > 0  # bf16 really computed: not bit-identical to fp32
    assert mixed_rel < 0.1 and mixed_cos > 0.99, (mixed_rel, mixed_cos)
    assert not (pure_rel < 0.1 and pure_cos > 0.99), (pure_rel, pure_cos)
