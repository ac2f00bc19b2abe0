"""Real TRL steps and a real miniature cycle on the embedded default model (SmolLM2-135M, CPU).

Marked ``training``: a few optimizer steps each, max_length 128, batch 2, so the module stays within a
few minutes on 2 cores.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from mathchat.settings import load_settings
from tests.fakes import ShortestPassesCritic, miniature_cycle_config
from training.config import DPOTrainSettings, SFTTrainSettings
from training.trainer_common import METADATA_FILE, read_metadata

pytestmark = pytest.mark.training

SYSTEM = {"role": "system", "content": "Answer briefly."}


@pytest.fixture(scope="module")
def base_model() -> str:
    import torch

    from serving.model_cache import resolve_model_path

    torch.set_num_threads(1)
    return resolve_model_path(load_settings())


def sft_rows(n: int = 4) -> list[dict]:
    return [{"prompt": [SYSTEM, {"role": "user", "content": f"What is {i} + {i}?"}],
             "completion": [{"role": "assistant", "content": f"{i} + {i} = {2 * i}. The answer is {2 * i}."}]}
            for i in range(1, n + 1)]


def test_real_sft_then_dpo_steps_write_loadable_checkpoints(base_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.dpo import train_dpo
    from training.sft import train_sft

    small = dict(max_steps=2, batch_size=2, max_length=128)
    sft_dir = train_sft(sft_rows(), base_model, tmp_path / "sft", SFTTrainSettings(**small),
                        metadata={"checkpoint_id": "sft-test", "parent": "base"})
    meta = read_metadata(sft_dir)
    assert meta["kind"] == "sft" and meta["parent"] == "base" and meta["rows"] == 4
    losses = [e["loss"] for e in meta["metrics"]["log"] if "loss" in e]
    assert losses and all(math.isfinite(x) for x in losses)
    tokenizer = AutoTokenizer.from_pretrained(sft_dir)
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.chat_template
    assert not (sft_dir / "_trainer").exists()

    pairs = [{"prompt": r["prompt"], "chosen": r["completion"],
              "rejected": [{"role": "assistant", "content": "The answer is 7."}]} for r in sft_rows()]
    dpo_dir = train_dpo(pairs, str(sft_dir), tmp_path / "dpo", DPOTrainSettings(**small),
                        metadata={"checkpoint_id": "dpo-test", "parent": "sft-test"})
    dmeta = read_metadata(dpo_dir)
    assert dmeta["kind"] == "dpo" and dmeta["config"]["sft_weight"] == 0.2
    assert any("rewards/margins" in e for e in dmeta["metrics"]["log"])
    model = AutoModelForCausalLM.from_pretrained(dpo_dir)
    assert model.config.pad_token_id == tokenizer.pad_token_id


def test_real_lora_sft_merges_into_a_plain_folder(base_model, tmp_path):
    from training.config import LoraSettings
    from training.sft import train_sft

    out = train_sft(sft_rows(2), base_model, tmp_path / "lora",
                    SFTTrainSettings(max_steps=1, batch_size=2, max_length=128, lora=LoraSettings(enabled=True, r=4)))
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()


@pytest.mark.vllm
def test_real_miniature_cycle_registers_a_candidate(settings, db, base_model, vllm_supervisor):
    """The live model is sampled on the session's vLLM server (as the app's own is: a third of this test's time
    on 2 cores when transformers sampled it), its candidates in transformers."""
    from feedback.db import session_scope
    from feedback.models import Checkpoint, TrainingRun
    from training.cycle import default_deps, run_cycle

    cfg = miniature_cycle_config().model_copy(update={"live_url": vllm_supervisor.router.current().base_url})
    deps = default_deps(settings, cfg)
    deps.make_critic = lambda engine: ShortestPassesCritic()
    result = run_cycle(settings, cfg, deps=deps, db=db)

    cand = result["candidate"]
    assert cand is not None, (result.get("skipped"), result.get("rft_data"))
    assert cand["kind"] in ("rft", "dpo")
    assert (Path(cand["path"]) / METADATA_FILE).is_file()
    with session_scope(db) as s:
        run = s.get(TrainingRun, result["run_id"])
        assert run.status == "succeeded" and run.candidate_checkpoint_id == cand["id"]
        assert all(run.progress[st]["status"] == "done" for st in ("sample_live", "train_sft", "train_dpo"))
        row = s.get(Checkpoint, cand["id"])
        assert row.status == "candidate" and row.metrics["eval"]["perplexity"] > 1
        # the budget's projection timed the real model's whole verifier pass on the run's own answers
        timed = re.search(r"verifier pass timed \(seconds an answer, probe share\): \(([\d.e-]+), ([\d.]+)\)", run.log)
        assert timed and float(timed[1]) > 0 and 0 < float(timed[2]) < 1, run.log[-2000:]
    report = json.loads((Path(result["run_dir"]) / "cycle.json").read_text())
    assert set(report["stages"]) >= {"pool", "sample_live", "train_sft", "sample_rft", "train_dpo", "eval_dpo"}
