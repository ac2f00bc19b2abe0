"""The verifier trainer: a real miniature run (a few steps on a tiny random Llama) through train_entry, and its
pure helpers. Marked ``training`` where it trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.config import TrainJob, VerifierTrainSettings
from mathchat.jsonl import write_jsonl
from training.trainer_common import read_metadata


def rows(n: int, split: str) -> list[dict]:
    out = []
    for i in range(n):
        right = i % 3 == 0
        total = 2 * i + 1
        answer = f"{i} + {i + 1} = {total if right else total + 1}. The answer is {total if right else total + 1}."
        out.append({"id": f"{split}-{i}", "question_id": f"q{i}", "question": f"What is {i} + {i + 1}?",
                    "answer": answer, "label": right, "split": split, "checkpoint": "live", "temperature": 0.6,
                    "source": "policy", "sample_id": None, "finish_reason": "stop", "run_id": None,
                    "features": {"steps_checked": 1.0, "steps_wrong": 0.0 if right else 1.0, "has_final": 1.0}})
    return out


@pytest.mark.training
def test_train_entry_fine_tunes_a_sequence_classifier_scores_held_out_and_writes_its_calibration(tiny_llama: Path,
                                                                                  tmp_path: Path) -> None:
    from serving.critique.calibration import load_calibration
    from serving.critique.verifier import Verifier
    from training.train_entry import main

    write_jsonl(rows(12, "train"), tmp_path / "train.jsonl")
    write_jsonl(rows(9, "held_out"), tmp_path / "held.jsonl")
    cfg = VerifierTrainSettings(head="sequence_classification", max_steps=3, batch_size=4, max_length=64,
                                backbone_layers=None, trainable_layers=1, num_threads=1, group_by_length=False)
    job = TrainJob(kind="verifier", data_path=tmp_path / "train.jsonl", model_path=str(tiny_llama),
                   output_dir=tmp_path / "verifier", verifier=cfg, held_out_path=tmp_path / "held.jsonl",
                   current_verifier=None, metadata={"checkpoint_id": "verifier-test"})
    (tmp_path / "job.json").write_text(job.model_dump_json())
    assert main(["verifier", "--config", str(tmp_path / "job.json")]) == 0

    meta = read_metadata(tmp_path / "verifier")
    assert meta["kind"] == "verifier" and meta["checkpoint_id"] == "verifier-test"
    assert meta["precision"]["saved"] == "fp32" and meta["rows"] == 12 and meta["pos_weight"] == 2.0
    assert len([e for e in meta["metrics"]["log"] if "loss" in e]) == 3
    held = meta["evaluation"]["held_out"]
    assert held["n"] == 9 and held["right"] == 3 and 0.0 <= held["auroc"] <= 1.0
    calibration = load_calibration(tmp_path / "verifier" / "calibration.json")
    assert "verifier_logit" in calibration.coef and calibration.version == meta["evaluation"]["calibration_version"]
    verifier = Verifier(tmp_path / "verifier")
    probs = verifier.probabilities([("What is 1 + 2?", "1 + 2 = 3. The answer is 3.")] * 2)
    assert len(probs) == 2 and probs[0] == pytest.approx(probs[1]) and 0.0 < probs[0] < 1.0
    config = json.loads((tmp_path / "verifier" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]


@pytest.mark.training
def test_train_entry_fits_a_mean_pooled_probe_on_the_policys_first_layers(tiny_llama: Path, tmp_path: Path) -> None:
    from serving.critique.verifier import PROBE_FILE, Verifier, read_verifier_config, verifier_part
    from training.train_entry import main

    write_jsonl(rows(12, "train"), tmp_path / "train.jsonl")
    write_jsonl(rows(9, "held_out"), tmp_path / "held.jsonl")
    cfg = VerifierTrainSettings(max_length=64, backbone_layers=1, num_threads=1, batch_size=4)
    job = TrainJob(kind="verifier", data_path=tmp_path / "train.jsonl", model_path=str(tiny_llama),
                   output_dir=tmp_path / "probe", verifier=cfg, held_out_path=tmp_path / "held.jsonl",
                   metadata={"checkpoint_id": "probe-test"})
    (tmp_path / "job.json").write_text(job.model_dump_json())
    assert main(["verifier", "--config", str(tmp_path / "job.json")]) == 0
    meta = read_metadata(tmp_path / "probe")
    assert meta["head"] == "mean_probe" and read_verifier_config(tmp_path / "probe").head == "mean_probe"
    assert meta["evaluation"]["held_out"]["n"] == 9 and (tmp_path / "probe" / "calibration.json").is_file()
    confidence = meta["evaluation"]["confidence"]
    assert confidence["verifier"]["n"] == 9 and len(confidence["verifier"]["bins"]) == 10
    assert confidence["calibrated"]["n"] + confidence["calibrated"]["left_out"] == 9
    config = json.loads((tmp_path / "probe" / "config.json").read_text())
    probe = json.loads((tmp_path / "probe" / PROBE_FILE).read_text())
    assert config["num_hidden_layers"] == 2 and probe["layer"] == 1  # the whole LM; the probe reads layer 1
    assert probe["support"]["rows"] == 12 and probe["support"]["min_mean_logprob"] < 0
    assert read_verifier_config(tmp_path / "probe").template == "chat"
    scores = json.loads((tmp_path / "probe" / "held_out_scores.json").read_text())
    fresh = Verifier(tmp_path / "probe", dtype="float32").probabilities([(r["question"], r["answer"])
                                                                          for r in rows(9, "held_out")])
    # trained on the cut backbone's pooled states, served from the whole LM's layer 1: the same logit
    assert [round(p, 2) for p in fresh] == [round(scores[r["id"]], 2) for r in rows(9, "held_out")]
    pairs = [(r["question"], r["answer"]) for r in rows(9, "held_out")]
    probe_only = Verifier(tmp_path / "probe", dtype="float32")
    assert all(m is None for _, m, _ in probe_only.readings(pairs, logprob=False)), "the probe's layers only"
    whole = probe_only.readings(pairs)  # the support check needs the log-probability: the whole pass runs now
    assert all(m is not None and m < 0 for _, m, _ in whole)
    assert [z for z, _, _ in whole] == pytest.approx(probe_only.logits(pairs), abs=1e-5)
    row = rows(1, "held_out")[0]
    spoken = verifier_part(Verifier(tmp_path / "probe", dtype="float32"), row["question"], row["answer"])
    assert spoken.score is not None and spoken.data["mean_logprob"] < 0
    (tmp_path / "probe" / PROBE_FILE).write_text(json.dumps(probe | {"support": {"min_mean_logprob": 0.0}}))
    silent = verifier_part(Verifier(tmp_path / "probe", dtype="float32"), row["question"], row["answer"])
    assert silent.score is None and silent.data["abstained"] and "abstains" in silent.detail
    # the writer check, fitted on these rows against the shipped answers of other writers (set A)
    assert probe["support"]["writer"]["other_rows"] == 64 and meta["evaluation"]["other_writers"]["rows"] == 64
    assert spoken.data["writer_logit"] > 0, "a held-out answer of the policy's kind reads like the policy's"
    writer = probe["support"]["writer"] | {"bias": -1e6}  # now every answer reads like another writer's
    (tmp_path / "probe" / PROBE_FILE).write_text(json.dumps(probe | {"support": probe["support"] | {"writer": writer}}))
    other = verifier_part(Verifier(tmp_path / "probe", dtype="float32"), row["question"], row["answer"])
    assert other.score is None and other.data["abstained"] and other.data["writer_logit"] < 0


def test_the_probe_layers_alone_give_the_whole_passs_pooled_states(tiny_llama: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from serving.critique.verifier import batch_ids, pooled_and_logprob, pooled_at_layer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama), dtype=torch.float32).eval()
    ids, mask = batch_ids([[5, 6, 7, 8, 9], [10, 11, 12]], 0)
    class StackNamedOtherwise:  # the same model seen as an architecture without ``layers``
        def __init__(self, lm) -> None:
            self.lm = lm
            self.base_model = lambda **kw: lm.base_model(**kw)
            self.base_model.norm = lm.base_model.norm

        def get_output_embeddings(self):
            return self.lm.get_output_embeddings()

    with torch.inference_mode():
        whole = pooled_and_logprob(model, ids, mask, 1, [2, 1])[0]
        cut = pooled_at_layer(model, ids, mask, 1)
        fallback = pooled_at_layer(StackNamedOtherwise(model), ids, mask, 1)
    assert len(model.model.layers) == 2, "the stack is whole again"
    assert torch.allclose(cut, whole, atol=1e-5) and torch.allclose(fallback, whole, atol=1e-5)


def test_the_verifier_pass_is_timed_on_the_policy_with_the_probe_share(tiny_llama: Path) -> None:
    from training.verifier import time_verifier_pass

    pairs = [(r["question"], r["answer"]) for r in rows(3, "train")]
    seconds, share = time_verifier_pass(str(tiny_llama), pairs, VerifierTrainSettings(backbone_layers=1,
                                                                                      num_threads=1))
    assert seconds > 0 and share == 0.5  # one of the tiny model's two layers
    with pytest.raises(ValueError):
        time_verifier_pass(str(tiny_llama), [], VerifierTrainSettings())


@pytest.mark.training
def test_only_the_top_layers_and_the_head_train(tiny_llama: Path) -> None:
    from training.trainer_common import load_tokenizer
    from training.verifier import freeze_lower_layers, load_verifier_model

    cfg = VerifierTrainSettings(backbone_layers=None, trainable_layers=1)
    model = load_verifier_model(str(tiny_llama), cfg, load_tokenizer(str(tiny_llama)))
    freeze_lower_layers(model, 1)
    trainable = {name.split(".")[1] if name.startswith("model.") else name.split(".")[0]
                 for name, p in model.named_parameters() if p.requires_grad}
    assert not model.model.layers[0].self_attn.q_proj.weight.requires_grad
    assert model.model.layers[1].self_attn.q_proj.weight.requires_grad and model.score.weight.requires_grad
    assert "embed_tokens" not in trainable


@pytest.mark.training
def test_a_cut_backbone_keeps_the_first_layers(tiny_llama: Path) -> None:
    from training.trainer_common import load_tokenizer
    from training.verifier import load_verifier_model

    model = load_verifier_model(str(tiny_llama), VerifierTrainSettings(backbone_layers=1),
                                load_tokenizer(str(tiny_llama)))
    assert len(model.model.layers) == 1 and model.config.num_hidden_layers == 1


def test_a_verifier_needs_both_labels() -> None:
    from training.verifier import train_verifier

    with pytest.raises(ValueError, match="both right and wrong"):
        train_verifier([r | {"label": False} for r in rows(3, "train")], "unused", "unused")
