"""The verifier trainer: P(correct | question, answer) as one logit on the policy's backbone; no reference in the input.

Inputs are built by ``serving.critique.verifier.encode_pair`` (question head + answer tail). Two heads
(``VerifierTrainSettings.head``), picked by measured held-out AUROC on 2,498 labelled SmolLM2 answers to held-out
seed questions (785 held-out rows, 67 right):

- ``mean_probe`` (default, 0.781, a 97 s job): the first ``backbone_layers`` (6) policy layers, frozen; their last
  hidden states mean-pooled; a class-balanced logistic regression on them. Forward passes only, so it uses
  every labelled row a cycle can afford to encode.
- ``sequence_classification`` (0.554, 299 s): ``AutoModelForSequenceClassification(num_labels=1)``, the top
  ``trainable_layers`` and the head trained with ``bce_loss`` by a plain transformers ``Trainer`` (fp32 master
  weights, bf16 autocast where native), 60 steps x 8 rows: too few steps to learn much, and last-token pooling
  was also the weaker probe (0.64-0.69).

Why not TRL's ``RewardTrainer`` on right/wrong pairs of the same question: at the policy's pass rates (5-25% of
samples right; 8.7% in the set above) only questions with mixed outcomes give pairs, so pairs throw away most
labels, and a pairwise reward has no probability scale, where the critic needs P(correct) to calibrate.

The job then scores the held-out rows with the new verifier and with the verifier in use (the gate compares both
on the same rows), keeps the scores (``held_out_scores.json``), and refits the part calibration on the held-out
rows with the new verifier's probability as a feature (``calibration.json``, versioned by its hash).

The calibration is also judged out of sample (``evaluation["confidence"]``, ``training/confidence_report.py``):
cross-fitted over by-question folds of the held-out rows, each row's calibrated confidence comes from a fit that
never saw its question, and its ECE, reliability bins, AUROC and false-confident share stand beside the raw
verifier probability's. Judging the final fit on the rows it was fitted on would flatter it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from training.confidence_report import REPORT_FORMAT, confidence_report, question_folds
from training.config import VerifierTrainSettings
from training.formats import VerifierRow
from training.trainer_common import (common_args, load_tokenizer, pin_threads, precision, save_checkpoint,
                                     train_metrics, write_metadata)

_REF_FEATURES = ("cons_present", "cons_fraction")
SCORES_FILE = "held_out_scores.json"
"""Row id -> P(correct) of every held-out row this verifier scored (for audits and reliability plots)."""


def bce_loss(logits, labels, pos_weight: float = 1.0, num_items_in_batch=None):
    """Binary cross-entropy on logits, right answers weighted by ``pos_weight``; summed over the batch and
    divided by ``num_items_in_batch`` when the Trainer gives it (gradient accumulation), else the mean.

    >>> import torch
    >>> round(float(bce_loss(torch.tensor([0.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 1.0]))), 4)
    0.6931
    >>> round(float(bce_loss(torch.tensor([2.0, -2.0, 0.0]), torch.tensor([1.0, 0.0, 1.0]), pos_weight=2.0)), 4)
    0.589
    """
    import torch

    logits = logits.float().reshape(-1)
    labels = labels.float().reshape(-1).to(logits.device)
    weight = torch.tensor(float(pos_weight), device=logits.device)
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight, reduction="none")
    if num_items_in_batch is not None:
        return losses.sum() / num_items_in_batch
    return losses.mean()


def resolve_pos_weight(setting: float | str, labels: Sequence[bool], cap: float = 10.0) -> float:
    """``balanced`` = wrong / right (capped), so the rare right answers weigh as much as the wrong ones.

    >>> resolve_pos_weight("balanced", [True, False, False, False]), resolve_pos_weight(1.5, [True])
    (3.0, 1.5)
    >>> resolve_pos_weight("balanced", [False] * 50 + [True])
    10.0
    """
    if setting != "balanced":
        return float(setting)
    right = sum(1 for y in labels if y)
    return min(cap, max(1.0, (len(labels) - right) / right)) if right else 1.0


def freeze_lower_layers(model: Any, trainable_layers: int | None) -> int:
    """Freeze the embeddings and all but the top ``trainable_layers`` decoder layers (None: train everything);
    the final norm and the score head always train. Returns the trainable parameter count."""
    if trainable_layers is not None:
        backbone = model.base_model
        for p in backbone.embed_tokens.parameters():
            p.requires_grad_(False)
        layers = list(backbone.layers)
        for layer in layers[:max(0, len(layers) - trainable_layers)]:
            for p in layer.parameters():
                p.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_verifier_model(model_path: str, cfg: VerifierTrainSettings, tokenizer):
    """The sequence-classification model, fp32, cut to ``backbone_layers``, pad id aligned with the tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification

    extra = {"num_hidden_layers": cfg.backbone_layers} if cfg.backbone_layers else {}
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1, dtype=torch.float32,
                                                               **extra)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.problem_type = "single_label_classification"
    return model


class _Collator:
    """Right-pads token ids with the pad id; labels as floats."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            ids[i, :len(b["input_ids"])] = torch.tensor(b["input_ids"])
            mask[i, :len(b["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask,
                "labels": torch.tensor([float(b["label"]) for b in batch])}


def calibration_rows(rows: Sequence[VerifierRow], probabilities: Sequence[float | None] | None
                     ) -> tuple[list[dict[str, float]], list[bool]]:
    """Feature rows for refitting the part calibration on labelled answers, as the critic meets them: without a
    reference (with the verifier's probability when given; None where it abstained; with and without
    self-consistency, which the app does not always draw) and with the reference (the reference decides; no
    consistency, no verifier).

    >>> feats, labels = calibration_rows([{"label": True, "features": {"steps_checked": 1.0, "cons_present": 1.0}}], [0.8])
    >>> len(feats), labels, feats[0]["verifier_present"], feats[1]["cons_present"], feats[2]["ref_match"]
    (3, [True, True, True], 1.0, 0.0, 1.0)
    """
    from serving.critique.calibration import FEATURES

    features: list[dict[str, float]] = []
    labels: list[bool] = []
    for i, row in enumerate(rows):
        base = dict.fromkeys(FEATURES, 0.0) | {k: float(v) for k, v in row["features"].items() if k in FEATURES}
        verifier: dict[str, float] = {}
        if probabilities is not None and probabilities[i] is not None:
            p = min(max(probabilities[i], 1e-6), 1 - 1e-6)
            verifier = {"verifier_present": 1.0, "verifier_logit": max(-8.0, min(8.0, math.log(p / (1 - p))))}
        plain = base | dict.fromkeys(_REF_FEATURES, 0.0)
        label = bool(row["label"])
        with_ref = plain | {"ref_checked": 1.0, "ref_match": 1.0 if label else -1.0, "has_final": 1.0
                            if label else plain["has_final"]}
        for feats in (base | verifier, plain | verifier, with_ref):
            features.append(feats)
            labels.append(label)
    return features, labels


def no_reference_features(row: VerifierRow, probability: float | None) -> dict[str, float]:
    """The row as the critic meets it without a reference: its recorded parts and the verifier (the first of
    ``calibration_rows``' conditions), the features its student-facing confidence is computed from."""
    return calibration_rows([row], [probability])[0][0]


def cross_fit_confidences(rows: Sequence[VerifierRow], probabilities: Sequence[float | None], *, folds: int = 2
                          ) -> list[float | None]:
    """Each row's calibrated confidence out of sample: the part calibration fitted (``calibration_rows``, all
    conditions) on the other folds' questions (``question_folds``), applied to the row as the critic meets it
    without a reference (its recorded parts and the verifier). None where the other folds hold one label only.

    >>> rows = [{"question_id": f"q{i}", "label": i % 2 == 0, "features": {"has_final": 1.0}} for i in range(8)]
    >>> confs = cross_fit_confidences(rows, [0.9 if i % 2 == 0 else 0.2 for i in range(8)])
    >>> all(c > 0.5 for c in confs[::2]) and all(c < 0.5 for c in confs[1::2])
    True
    """
    from serving.critique.calibration import fit_calibration

    assignment = question_folds([r["question_id"] for r in rows], folds)
    out: list[float | None] = [None] * len(rows)
    for fold in range(folds):
        train = [i for i, f in enumerate(assignment) if f != fold]
        feats, labels = calibration_rows([rows[i] for i in train], [probabilities[i] for i in train])
        if len(set(labels)) < 2:
            continue
        calibration = fit_calibration(feats, labels)
        for i in (i for i, f in enumerate(assignment) if f == fold):
            out[i] = calibration.predict_features(no_reference_features(rows[i], probabilities[i]))
    return out


def score_rows(model_path: str | Path, rows: Sequence[VerifierRow], *, batch_size: int = 16) -> list[float]:
    """P(correct) of each row under a verifier checkpoint (through the serving code path)."""
    return [s.p for s in score_rows_with_support(model_path, rows, batch_size=batch_size)]


def score_rows_with_support(model_path: str | Path, rows: Sequence[VerifierRow], *, batch_size: int = 16) -> list[Any]:
    """Each row's ``VerifierScore`` (P(correct) and whether the verifier would speak) under a checkpoint."""
    from serving.critique.verifier import Verifier

    verifier = Verifier(model_path, batch_size=batch_size)
    return verifier.scores([(r["question"], r["answer"]) for r in rows])


def held_out_metrics(probabilities: Sequence[float], labels: Sequence[bool], confident_at: float = 0.7
                     ) -> dict[str, Any]:
    """AUROC and the share of wrong answers at P >= ``confident_at`` (the raw verifier, no calibration).

    >>> held_out_metrics([0.9, 0.2, 0.8], [True, False, False])
    {'n': 3, 'right': 1, 'auroc': 1.0, 'false_confident': 0.5}
    """
    from serving.critique.metrics import auroc, false_confident_rate

    value = auroc(list(probabilities), [bool(y) for y in labels])
    return {"n": len(labels), "right": sum(1 for y in labels if y),
            "auroc": None if value is None else round(value, 4),
            "false_confident": false_confident_rate(list(probabilities), list(labels), [True] * len(labels),
                                                    confident_at)}


def train_verifier(rows: Sequence[VerifierRow], base_model_path: str | Path, output_dir: str | Path,
                   cfg: VerifierTrainSettings = VerifierTrainSettings(), *, held_out: Sequence[VerifierRow] = (),
                   current_path: str | None = None, metadata: dict[str, Any] | None = None) -> Path:
    """Train on ``rows`` (the train split) with ``cfg.head``; score ``held_out`` with the new verifier and
    ``current_path`` (the one in use, if any); refit the calibration on ``held_out``; returns the checkpoint."""
    if not rows or all(r["label"] for r in rows) or not any(r["label"] for r in rows):
        raise ValueError("a verifier needs both right and wrong training rows")
    pin_threads(cfg)
    train = train_mean_probe if cfg.head == "mean_probe" else train_sequence_classifier
    path, meta = train(rows, str(base_model_path), Path(output_dir), cfg, dict(metadata or {}))
    if held_out:
        from training.other_writers import load_other_writer_rows

        others = load_other_writer_rows() if cfg.calibrate_on_other_writers else []
        meta["evaluation"] = evaluate_and_calibrate(path, held_out, current_path, others)
        write_metadata(path, meta)
    return path


def train_sequence_classifier(rows: Sequence[VerifierRow], base_model_path: str, output_dir: Path,
                              cfg: VerifierTrainSettings, metadata: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The fine-tuned head: AutoModelForSequenceClassification, top layers and head trained with BCE (Trainer)."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from serving.critique.verifier import VerifierInput, encode_pair, write_verifier_config

    tokenizer = load_tokenizer(base_model_path)
    spec = VerifierInput(max_length=cfg.max_length, max_question_tokens=cfg.max_question_tokens,
                         head="sequence_classification")
    data = [{"input_ids": encode_pair(tokenizer, r["question"], r["answer"], spec), "label": bool(r["label"])}
            for r in rows]
    pos_weight = resolve_pos_weight(cfg.pos_weight, [d["label"] for d in data])
    model = load_verifier_model(base_model_path, cfg, tokenizer)
    trainable = freeze_lower_layers(model, cfg.trainable_layers)
    args = common_args(cfg, output_dir)
    args.pop("max_length")
    sampling = "group_by_length" if cfg.group_by_length else "random"
    trainer = Trainer(model=model, args=TrainingArguments(**args, remove_unused_columns=False,
                                                          train_sampling_strategy=sampling),
                      train_dataset=Dataset.from_list([d | {"length": len(d["input_ids"])} for d in data]),
                      data_collator=_Collator(tokenizer.pad_token_id),
                      compute_loss_func=lambda out, labels, num_items_in_batch=None: bce_loss(
                          out.logits, labels, pos_weight, num_items_in_batch))
    started = time.monotonic()
    result = trainer.train()
    meta: dict[str, Any] = {
        "kind": "verifier", "head": spec.head, "parent_path": base_model_path, "config": cfg.model_dump(mode="json"),
        "precision": precision(cfg), "rows": len(rows), "right": sum(d["label"] for d in data),
        "pos_weight": pos_weight, "trainable_parameters": trainable,
        "train_seconds": round(time.monotonic() - started, 1), "metrics": train_metrics(trainer, result), **metadata}
    trainer.model.config.problem_type = None  # serving reads raw logits; no loss is ever computed there
    path = save_checkpoint(trainer, tokenizer, output_dir, cfg, meta)
    write_verifier_config(path, spec, {"base": base_model_path})
    return path, meta


def fold_probe(mean: Sequence[float], scale: Sequence[float], coef: Sequence[float], intercept: float
               ) -> tuple[list[float], float]:
    """A logistic regression on standardised features as one linear map of the raw features.

    >>> fold_probe([1.0, 0.0], [2.0, 1.0], [4.0, 1.0], 0.5)
    ([2.0, 1.0], -1.5)
    """
    weight = [c / s for c, s in zip(coef, scale)]
    return weight, intercept - sum(m * w for m, w in zip(mean, weight))


def probe_layers(model_path: str, wanted: int | None) -> int:
    """The layers a mean probe reads: ``wanted``, at most all the model has (None: all of them)."""
    from transformers import AutoConfig

    total = int(AutoConfig.from_pretrained(model_path).num_hidden_layers)
    return total if wanted is None else max(1, min(wanted, total))


def probe_input(cfg: VerifierTrainSettings) -> Any:
    """How a mean probe reads a pair (``serving.critique.verifier.VerifierInput``), from the settings."""
    from serving.critique.verifier import VerifierInput
    from serving.policy_prompt import POLICY_SYSTEM_PROMPT

    return VerifierInput(max_length=cfg.max_length, max_question_tokens=cfg.max_question_tokens, head="mean_probe",
                         template=cfg.template, system=POLICY_SYSTEM_PROMPT if cfg.template == "chat" else None)


def whole_pass_means(causal_lm: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], spec: Any,
                     cfg: VerifierTrainSettings) -> Iterator[list[float]]:
    """The answers' mean token log-probabilities under the whole policy, one list per batch of ``cfg.batch_size``
    pairs (in order), computed in the stage's precision as each batch is asked for."""
    import torch

    from serving.critique.verifier import batch_ids, encode_pair_with_start, pooled_and_logprob
    from training.trainer_common import use_bf16

    encoded = [encode_pair_with_start(tokenizer, q, a, spec) for q, a in pairs]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16(cfg)):
        for start in range(0, len(encoded), cfg.batch_size):
            chunk = encoded[start:start + cfg.batch_size]
            ids, mask = batch_ids([ids for ids, _ in chunk], tokenizer.pad_token_id)
            yield pooled_and_logprob(causal_lm, ids, mask, 1, [s for _, s in chunk])[1]


def time_verifier_pass(model_path: str, pairs: Sequence[tuple[str, str]], cfg: VerifierTrainSettings
                       ) -> tuple[float, float]:
    """(seconds one answer's whole pass takes, the share of the model a probe-only pass runs) for a verifier on
    the policy at ``model_path``. The whole pass (pooled states and log-probability: what a verifier with a
    support costs an answer) is timed on ``pairs`` with the stage's threads and precision; the cycle projects its
    verifier stage from both (``training.round_stop.verifier_stage_seconds``). The first batch warms up and is not
    counted when later ones follow (with it counted, a 2-core AVX2 cycle timed 0.66 s an answer, where warmed-up
    passes over one cycle's rows took 0.45-0.48 s)."""
    import torch
    from transformers import AutoModelForCausalLM

    from mathchat.hardware import resolve_threads
    from serving.critique.verifier import torch_threads

    if not pairs:
        raise ValueError("no answers to time")
    tokenizer = load_tokenizer(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    threads = None if torch.cuda.is_available() else resolve_threads(cfg.num_threads)
    batches: list[tuple[int, float]] = []  # (answers, seconds) per batch
    with torch_threads(threads):
        started = time.monotonic()
        for means in whole_pass_means(model, tokenizer, pairs, probe_input(cfg), cfg):
            batches.append((len(means), time.monotonic() - started))
            started = time.monotonic()
    counted = batches[1:] or batches
    seconds = sum(t for _, t in counted) / sum(n for n, _ in counted)
    return seconds, probe_layers(model_path, cfg.backbone_layers) / model.config.num_hidden_layers


def train_mean_probe(rows: Sequence[VerifierRow], base_model_path: str, output_dir: Path,
                     cfg: VerifierTrainSettings, metadata: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The probe head: the first ``backbone_layers`` of the policy, frozen; their last hidden states mean-pooled
    over the input; a class-balanced logistic regression (scikit-learn, ``probe_c``) on them. Forward passes only."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from transformers import AutoModel, AutoModelForCausalLM

    from serving.critique.verifier import write_probe, write_verifier_config
    from training.trainer_common import use_bf16

    started = time.monotonic()
    tokenizer = load_tokenizer(base_model_path)
    spec = probe_input(cfg)
    layers = probe_layers(base_model_path, cfg.backbone_layers)
    backbone = AutoModel.from_pretrained(base_model_path, dtype=torch.float32, num_hidden_layers=layers).eval()
    features = pooled_features(backbone, tokenizer, rows, spec, cfg)
    labels = [int(bool(r["label"])) for r in rows]
    scaler = StandardScaler().fit(features)
    probe = LogisticRegression(C=cfg.probe_c, max_iter=2000, class_weight="balanced")
    probe.fit(scaler.transform(features), labels)
    weight, bias = fold_probe(scaler.mean_, scaler.scale_, probe.coef_[0], float(probe.intercept_[0]))
    output_dir.mkdir(parents=True, exist_ok=True)
    support: dict[str, Any] | None = None
    if cfg.support_rows > 0:
        writer = writer_check(backbone, tokenizer, rows, features, spec, cfg)
        del backbone
        backbone = AutoModelForCausalLM.from_pretrained(base_model_path, dtype=torch.float32).eval()
        support = answer_support(backbone, tokenizer, rows, spec, cfg) | ({"writer": writer} if writer else {})
    backbone.config.pad_token_id = tokenizer.pad_token_id
    backbone.save_pretrained(output_dir)  # the whole causal LM (with a support) or the cut backbone, fp32
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(output_dir)
    write_verifier_config(output_dir, spec, {"base": base_model_path})
    write_probe(output_dir, weight, bias, layer=layers if support else None, support=support)
    meta: dict[str, Any] = {
        "kind": "verifier", "head": spec.head, "parent_path": base_model_path, "config": cfg.model_dump(mode="json"),
        "precision": {"compute": "bf16 autocast" if use_bf16(cfg) else "fp32", "saved": "fp32"},
        "rows": len(rows), "right": sum(labels),
        "support": support and {k: v if k != "writer" else {n: x for n, x in v.items() if n not in ("weight", "bias")}
                                 for k, v in support.items()},  # the writer check's weights stay in probe.json
        "train_seconds": round(time.monotonic() - started, 1), **metadata}
    write_metadata(output_dir, meta)
    return output_dir, meta


def pooled_features(backbone: Any, tokenizer: Any, rows: Sequence[VerifierRow], spec: Any,
                    cfg: VerifierTrainSettings) -> list[Any]:
    """Each row's mean-pooled hidden states from the cut backbone (numpy, float32), in the rows' order."""
    import torch

    from serving.critique.verifier import batch_ids, encode_pair_with_start, mean_pooled, pooling_mask
    from training.trainer_common import use_bf16

    encoded = [encode_pair_with_start(tokenizer, r["question"], r["answer"], spec) for r in rows]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    features: list[Any] = [None] * len(encoded)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16(cfg)):
        for start in range(0, len(order), cfg.batch_size):
            chunk = order[start:start + cfg.batch_size]
            ids, mask = batch_ids([encoded[i][0] for i in chunk], tokenizer.pad_token_id)
            pool = pooling_mask(mask, [encoded[i][1] for i in chunk] if spec.template == "chat" else None)
            for i, vector in zip(chunk, mean_pooled(backbone, ids, mask, pool)):
                features[i] = vector.float().numpy()
    return features


def writer_check(backbone: Any, tokenizer: Any, rows: Sequence[VerifierRow], features: Sequence[Any], spec: Any,
                 cfg: VerifierTrainSettings) -> dict[str, Any] | None:
    """The writer check (``serving.critique.verifier``): a class-balanced logistic regression on the pooled states
    telling the policy's answers (``rows``, their ``features``) from other writers' (``training.other_writers``),
    folded into one weight and bias on the raw states; None when ``cfg.writer_check`` is off.

    The log-probability bound let through answers in styles the policy predicts well (GSM8K's calculator notes),
    where the probe gave right and wrong answers alike P(correct) near 0. On the committed rows (2026-12-07, 2-core
    AMD EPYC, avx512_bf16) the check fitted on set A called none of 200 held-out policy answers another writer's
    and none of set B's 80 answers the policy's."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from training.other_writers import load_other_writer_rows

    if not cfg.writer_check:
        return None
    others = load_other_writer_rows()
    x = list(features) + pooled_features(backbone, tokenizer, others, spec, cfg)
    y = [1] * len(features) + [0] * len(others)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=cfg.writer_c, max_iter=2000, class_weight="balanced").fit(scaler.transform(x), y)
    weight, bias = fold_probe(scaler.mean_, scaler.scale_, model.coef_[0], float(model.intercept_[0]))
    return {"weight": weight, "bias": bias, "policy_rows": len(features), "other_rows": len(others),
            "c": cfg.writer_c}


def support_bound(mean_logprobs: Sequence[float], quantile: float) -> float:
    """The ``quantile`` of the training answers' mean token log-probabilities (nearest rank, rounded down).

    >>> support_bound([-0.5, -0.9, -0.7, -1.4, -0.6], 0.1)
    -1.4
    >>> support_bound([-0.5, -0.9, -0.7, -1.4, -0.6], 0.25)
    -0.9
    """
    ordered = sorted(mean_logprobs)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


def answer_support(causal_lm: Any, tokenizer: Any, rows: Sequence[VerifierRow], spec: Any,
                   cfg: VerifierTrainSettings) -> dict[str, Any]:
    """Where the verifier may speak: the mean token log-probability of a seeded draw of ``cfg.support_rows`` train
    answers under the whole policy, and its ``cfg.support_quantile`` as the bound (``serving.critique.verifier``)."""
    import random

    drawn = random.Random(0).sample(list(rows), min(cfg.support_rows, len(rows)))
    means = [m for batch in whole_pass_means(causal_lm, tokenizer, [(r["question"], r["answer"]) for r in drawn],
                                             spec, cfg) for m in batch]
    return {"min_mean_logprob": round(support_bound(means, cfg.support_quantile), 4),
            "quantile": cfg.support_quantile, "rows": len(means)}


def evaluate_and_calibrate(path: Path, held_out: Sequence[VerifierRow], current_path: str | None,
                           others: Sequence[VerifierRow] = ()) -> dict[str, Any]:
    """Score the held-out rows with the new verifier (and the one in use), keep the scores, refit the calibration
    on them and on ``others`` (answers other writers wrote, ``training.other_writers``, read by the verifier as the
    critic will: mostly abstaining)."""
    from serving.critique.calibration import fit_calibration, save_calibration
    from serving.critique.verifier import CALIBRATION_FILE

    started = time.monotonic()
    labels = [bool(r["label"]) for r in held_out]
    read = score_rows_with_support(path, [*held_out, *others])  # one load of the checkpoint for both sets
    scores, other_scores = read[:len(held_out)], read[len(held_out):]
    probs = [s.p for s in scores]
    spoken = [s.p if s.in_support else None for s in scores]  # what the critic will see: None where it abstains
    evaluation: dict[str, Any] = {"held_out": held_out_metrics(probs, labels), "held_out_ids_sha256": _ids_hash(held_out),
                                  "in_support": round(sum(s.in_support for s in scores) / max(1, len(scores)), 4)}
    by_id = {r["id"]: round(p, 5) for r, p in zip(held_out, probs)}
    (path / SCORES_FILE).write_text(json.dumps(by_id, ensure_ascii=False), encoding="utf-8")
    if current_path:
        evaluation["current"] = {"path": current_path, **held_out_metrics(score_rows(current_path, held_out), labels)}
    evaluation["confidence"] = confidence_evaluation(held_out, probs, spoken)
    other_spoken = [s.p if s.in_support else None for s in other_scores]
    evaluation["other_writers"] = {"rows": len(others), "verifier_speaks": sum(p is not None for p in other_spoken)}
    feats, ys = calibration_rows([*held_out, *others], [*spoken, *other_spoken])
    if len(set(ys)) == 2:
        calibration = fit_calibration(feats, ys, trained_on={
            "source": "held-out verifier rows (the policy's own answers, labelled by their references)"
                      + (" and answers other writers wrote (training.other_writers)" if others else ""),
            "rows": len(held_out), "other_writer_rows": len(others), "verifier": str(path),
            "conditions": "no-ref +/- consistency, with-ref"})
        save_calibration(calibration, path / CALIBRATION_FILE)
        evaluation["calibration_version"] = calibration.version
        in_sample = [calibration.predict_features(no_reference_features(r, p)) for r, p in zip(held_out, spoken)]
        evaluation["confidence"]["calibrated_in_sample_ece"] = confidence_report(in_sample, labels)["ece"]
    evaluation["score_seconds"] = round(time.monotonic() - started, 1)
    return evaluation


def confidence_evaluation(held_out: Sequence[VerifierRow], probabilities: Sequence[float],
                          spoken: Sequence[float | None] | None = None, *, folds: int = 2) -> dict[str, Any]:
    """The out-of-sample reliability of the raw verifier probability and of the calibrated confidence the
    student sees (cross-fitted, ``cross_fit_confidences``; ``spoken``: the probabilities with None where the
    verifier abstains, as the critic meets them), as ``confidence_report``s."""
    labels = [bool(r["label"]) for r in held_out]
    spoken = list(probabilities) if spoken is None else spoken
    return {"format": REPORT_FORMAT, "folds": folds, "split": "by question",
            "condition": "no reference: the row's recorded parts and the verifier",
            "verifier": confidence_report(probabilities, labels),
            "calibrated": confidence_report(cross_fit_confidences(held_out, spoken, folds=folds), labels)}


def _ids_hash(rows: Sequence[VerifierRow]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(r["id"] for r in rows)).encode()).hexdigest()[:16]
