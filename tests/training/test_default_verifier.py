"""``python -m training.default_verifier``: the cycle's verifier job on committed rows, only its small files kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mathchat.jsonl import write_jsonl
from serving.critique.verifier import CALIBRATION_FILE, CONFIG_FILE, PROBE_FILE, read_verifier_config
from tests.training.test_verifier import rows
from training.default_verifier import fit_default_verifier


@pytest.mark.training
def test_the_fit_writes_the_three_small_files_and_no_machine_path(tiny_llama: Path, tmp_path: Path) -> None:
    write_jsonl(rows(12, "train") + rows(9, "held_out"), tmp_path / "rows.jsonl")
    result = fit_default_verifier(tmp_path / "rows.jsonl", str(tiny_llama), tmp_path / "shipped")
    assert sorted(p.name for p in (tmp_path / "shipped").iterdir()) == sorted([CALIBRATION_FILE, CONFIG_FILE, PROBE_FILE])
    assert str(tiny_llama) not in (tmp_path / "shipped" / CONFIG_FILE).read_text()
    assert read_verifier_config(tmp_path / "shipped").template == "chat"
    assert json.loads((tmp_path / "shipped" / PROBE_FILE).read_text())["support"]["rows"] == 12
    assert result["train"] == 12 and result["held_out"] == 9 and result["verifier"]["n"] == 9


@pytest.mark.parametrize("layers", [1, None])
@pytest.mark.training
def test_the_probe_reads_the_same_states_in_serving_as_in_training(tiny_llama: Path, tmp_path: Path, layers) -> None:
    """Training pools the cut backbone's last (normed) states; serving, the whole LM's states at that layer."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from serving.critique.verifier import Verifier, batch_ids, encode_pair_with_start, mean_pooled, pooling_mask
    from training.config import VerifierTrainSettings
    from training.verifier import train_verifier

    cfg = VerifierTrainSettings(max_length=64, backbone_layers=layers, num_threads=1, batch_size=4)
    folder = train_verifier(rows(12, "train"), str(tiny_llama), tmp_path / "v", cfg)
    probe = json.loads((folder / PROBE_FILE).read_text())
    assert probe["layer"] == (layers or 2)
    verifier = Verifier(folder, dtype="float32")
    pairs = [(r["question"], r["answer"]) for r in rows(5, "held_out")]
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    cut = AutoModel.from_pretrained(str(tiny_llama), dtype=torch.float32, num_hidden_layers=probe["layer"]).eval()
    expected = []
    for question, answer in pairs:
        ids, start = encode_pair_with_start(tokenizer, question, answer, verifier.spec)
        batch, mask = batch_ids([ids], tokenizer.pad_token_id)
        with torch.inference_mode():
            pooled = mean_pooled(cut, batch, mask, pooling_mask(mask, [start]))[0]
        expected.append(float(pooled @ torch.tensor(probe["weight"])) + probe["bias"])
    assert verifier.logits(pairs) == pytest.approx(expected, abs=1e-3)
