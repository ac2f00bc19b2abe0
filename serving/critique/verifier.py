"""The trained verifier part: P(correct | question, answer) from a sequence-classification checkpoint, no reference.

A verifier checkpoint (written by ``training/verifier.py``) is a transformers folder with one of two heads,
named in its ``verifier.json`` (which also says how inputs were built, read back by ``encode_pair``):

- ``mean_probe`` (the default): the policy's first layers (``AutoModel``), their last hidden states mean-pooled
  over the input, and a linear probe (``probe.json``: weight and bias) giving the logit;
- ``sequence_classification``: an ``AutoModelForSequenceClassification`` with one logit (last-token pooling),
  fine-tuned end to end; vLLM's pooling runner can serve this kind in production.

Beside them, ``calibration.json``: the part calibration refitted with this verifier's probability as a feature,
on held-out labelled answers. This module owns that contract; training writes through ``write_verifier_config``
and ``write_probe``.

On CPU it runs in process: loaded on first use, one forward pass per answer under a lock (thread-safe), torch
threads left as the process set them. Knows nothing about training or the store.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from serving.critique.types import PartScore
from serving.model_cache import PAD_TOKEN

log = logging.getLogger(__name__)

VERIFIER_FORMAT = 1
"""Bump when the input text or the meaning of the logit changes."""
CONFIG_FILE = "verifier.json"
CALIBRATION_FILE = "calibration.json"
PROBE_FILE = "probe.json"
HEADS = ("mean_probe", "sequence_classification")


@dataclass(frozen=True)
class VerifierInput:
    """How a (question, answer) pair becomes tokens; stored in the checkpoint so serving reads what training saw."""

    max_length: int = 384
    """Longest input (tokens); a longer answer keeps its end, where the final answer is."""
    max_question_tokens: int = 96
    """Tokens of the question kept (its start)."""
    head: str = "mean_probe"
    """How the logit is computed (``HEADS``; see the module docstring)."""
    format: int = VERIFIER_FORMAT


def verifier_text(question: str, answer: str) -> tuple[str, str]:
    """The two text pieces the verifier reads (no reference anywhere).

    >>> verifier_text(" What is 2+3? ", "2 + 3 = 5. The answer is 5.")
    ('Question:\\nWhat is 2+3?\\n\\nAnswer:\\n', '2 + 3 = 5. The answer is 5.')
    """
    return f"Question:\n{question.strip()}\n\nAnswer:\n", answer.strip()


def fit_ids(question_ids: Sequence[int], answer_ids: Sequence[int], spec: VerifierInput) -> list[int]:
    """Question head + answer tail within ``spec.max_length`` tokens.

    >>> fit_ids([1, 2, 3], [4, 5, 6, 7], VerifierInput(max_length=5, max_question_tokens=2))
    [1, 2, 5, 6, 7]
    >>> fit_ids([1], [4, 5], VerifierInput(max_length=8, max_question_tokens=4))
    [1, 4, 5]
    """
    head = list(question_ids[:spec.max_question_tokens])
    room = max(1, spec.max_length - len(head))
    return head + list(answer_ids[-room:])


def encode_pair(tokenizer: Any, question: str, answer: str, spec: VerifierInput) -> list[int]:
    """Token ids of one pair (training and serving both call this)."""
    q_text, a_text = verifier_text(question, answer)
    q_ids = tokenizer(q_text, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(a_text or "(no answer)", add_special_tokens=False)["input_ids"]
    return fit_ids(q_ids, a_ids, spec)


def sigmoid(z: float) -> float:
    """The logistic function, clipped so it never overflows.

    >>> sigmoid(0.0), sigmoid(1e9)
    (0.5, 1.0)
    """
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def write_verifier_config(directory: Path, spec: VerifierInput, extra: dict[str, Any] | None = None) -> None:
    """Write ``verifier.json`` into a checkpoint folder."""
    data = {**asdict(spec), **(extra or {})}
    (Path(directory) / CONFIG_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def read_verifier_config(directory: Path) -> VerifierInput:
    """The input spec of a verifier checkpoint; refuses another format."""
    data = json.loads((Path(directory) / CONFIG_FILE).read_text(encoding="utf-8"))
    if data.get("format") != VERIFIER_FORMAT:
        raise ValueError(f"verifier format {data.get('format')} is not {VERIFIER_FORMAT}")
    head = data.get("head", "sequence_classification")
    if head not in HEADS:
        raise ValueError(f"unknown verifier head {head!r}")
    return VerifierInput(max_length=int(data["max_length"]), max_question_tokens=int(data["max_question_tokens"]),
                         head=head)


def write_probe(directory: Path, weight: Sequence[float], bias: float) -> None:
    """Write a mean-pooled probe head (``probe.json``): logit = mean hidden state . weight + bias."""
    data = {"weight": [float(w) for w in weight], "bias": float(bias)}
    (Path(directory) / PROBE_FILE).write_text(json.dumps(data), encoding="utf-8")


def batch_ids(encoded: Sequence[Sequence[int]], pad_id: int):
    """Right-padded ``input_ids`` and ``attention_mask`` tensors of token-id lists."""
    import torch

    width = max(len(ids) for ids in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for j, row in enumerate(encoded):
        ids[j, :len(row)] = torch.tensor(list(row))
        mask[j, :len(row)] = 1
    return ids, mask


def mean_pooled(backbone: Any, ids: Any, mask: Any) -> Any:
    """The backbone's last hidden states averaged over each row's real tokens (float32, rows x hidden)."""
    hidden = backbone(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    weights = mask.unsqueeze(-1).float()
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def is_verifier_checkpoint(directory: str | Path) -> bool:
    """Whether a folder looks like a verifier checkpoint (its ``verifier.json`` is there)."""
    return (Path(directory) / CONFIG_FILE).is_file()


class Verifier:
    """A verifier checkpoint in process: ``probabilities(pairs)`` -> P(correct) per (question, answer).

    Loading happens on first use (or ``load()``), once, under a lock; scoring is serialised by the same lock.
    """

    def __init__(self, path: str | Path, *, checkpoint_id: str | None = None, dtype: str = "auto",
                 batch_size: int = 8) -> None:
        self.path = Path(path)
        self.checkpoint_id = checkpoint_id or self.path.name
        self.dtype = dtype
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._probe: Any = None
        self.spec = read_verifier_config(self.path)

    @property
    def calibration_path(self) -> Path | None:
        """The calibration fitted with this verifier (None when the checkpoint has none)."""
        path = self.path / CALIBRATION_FILE
        return path if path.is_file() else None

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        from mathchat.hardware import local_dtype

        tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        if PAD_TOKEN in tokenizer.get_vocab():
            tokenizer.pad_token = PAD_TOKEN
        elif tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        dtype = getattr(torch, local_dtype(self.dtype))
        if self.spec.head == "mean_probe":
            model = AutoModel.from_pretrained(str(self.path), dtype=dtype)
            probe = json.loads((self.path / PROBE_FILE).read_text(encoding="utf-8"))
            self._probe = (torch.tensor(probe["weight"], dtype=torch.float32), float(probe["bias"]))
        else:
            model = AutoModelForSequenceClassification.from_pretrained(str(self.path), dtype=dtype)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.eval()
        self._tokenizer, self._model = tokenizer, model

    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The raw logit of each pair, in order (batched by length, right-padded)."""
        import torch

        out: list[float] = [0.0] * len(pairs)
        with self._lock:
            self._load_locked()
            pad = self._tokenizer.pad_token_id
            encoded = [encode_pair(self._tokenizer, q, a, self.spec) for q, a in pairs]
            order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # similar lengths pad least
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                ids, mask = batch_ids([encoded[i] for i in chunk], pad)
                with torch.inference_mode():
                    if self._probe is not None:
                        weight, bias = self._probe
                        logits = mean_pooled(self._model, ids, mask) @ weight + bias
                    else:
                        logits = self._model(input_ids=ids, attention_mask=mask).logits[:, 0]
                for i, z in zip(chunk, logits.float()):
                    out[i] = float(z)
        return out

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """P(correct) of each (question, answer) pair."""
        return [sigmoid(z) for z in self.logits(pairs)]


def verifier_part(verifier: Verifier, question: str, answer: str) -> PartScore:
    """The verifier's PartScore: 1 + 9 * P(correct), with ``p`` and the checkpoint in ``data``; unscored (None)
    when the model cannot run, so the critique goes on without it."""
    try:
        p = verifier.probabilities([(question, answer)])[0]
    except Exception as error:  # a broken checkpoint must not take the critique down
        log.warning("verifier %s failed: %s", verifier.checkpoint_id, error)
        return PartScore("verifier", None, f"verifier unavailable ({type(error).__name__})")
    return PartScore("verifier", round(1 + 9 * p, 2), f"trained verifier: P(correct) {p:.0%} (no reference)",
                     {"p": round(p, 4), "checkpoint": verifier.checkpoint_id})
