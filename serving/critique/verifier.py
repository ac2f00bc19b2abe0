"""The trained verifier part: P(correct | question, answer) from a sequence-classification checkpoint, no reference.

A verifier checkpoint (written by ``training/verifier.py``) is a transformers folder with one of two heads,
named in its ``verifier.json`` (which also says how inputs were built, read back by ``encode_pair``):

- ``mean_probe`` (the default): the policy's first layers (``AutoModel``), their last hidden states mean-pooled
  over the input, and a linear probe (``probe.json``: weight and bias) giving the logit. When ``probe.json`` also
  names its ``layer`` and a ``support``, the folder holds the whole causal LM: one forward pass gives the pooled
  (normed) hidden states of that layer, the same features, and the mean log-probability of the answer's tokens.
  An answer less likely than the policy's own answers ever were (``support.min_mean_logprob``, a low quantile of
  the training rows) is outside what the verifier learned from: it abstains there instead of guessing (answers
  written by other, stronger models read very differently from the policy's, and a probe trained on the
  policy's mistakes ranked them near chance). Answers in a style the policy predicts well (GSM8K's calculator
  notes repeat every number) passed that bound and got P(correct) near 0 whether right or wrong, so a probe also
  carries a **writer check** (``support.writer``: a linear map of the same pooled states, fitted on the policy's
  answers against a set other writers wrote): below 0 the answer reads like another writer's, and the verifier
  abstains too;
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
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from serving.critique.types import PartScore
from serving.model_cache import MODEL_LOAD_LOCK, PAD_TOKEN

log = logging.getLogger(__name__)

VERIFIER_FORMAT = 1
"""Bump when the input text or the meaning of the logit changes."""
CONFIG_FILE = "verifier.json"
CALIBRATION_FILE = "calibration.json"
PROBE_FILE = "probe.json"
HEADS = ("mean_probe", "sequence_classification")
READINGS_KEPT = 4096
"""Readings a Verifier keeps (a few MB of pairs' text at most; the oldest go first)."""


@dataclass(frozen=True)
class VerifierInput:
    """How a (question, answer) pair becomes tokens; stored in the checkpoint so serving reads what training saw."""

    max_length: int = 384
    """Longest input (tokens); a longer answer keeps its end, where the final answer is."""
    max_question_tokens: int = 96
    """Tokens of the question kept (its start)."""
    head: str = "mean_probe"
    """How the logit is computed (``HEADS``; see the module docstring)."""
    template: str = "plain"
    """plain: ``verifier_text``'s "Question: ... Answer: ..."; chat: the policy's own chat prompt (``system`` and
    the question as the user's turn) followed by the answer, as the policy read it while writing, so that the
    answer's log-probability says how like the policy's own writing it is; a mean probe then pools the answer's
    tokens only."""
    system: str | None = None
    """The system prompt of the chat template (chat only)."""
    max_prompt_tokens: int = 192
    """Tokens of the chat prompt kept (its start; chat only)."""
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
    return encode_pair_with_start(tokenizer, question, answer, spec)[0]


def encode_pair_with_start(tokenizer: Any, question: str, answer: str, spec: VerifierInput) -> tuple[list[int], int]:
    """``encode_pair``'s ids and the index of the answer's first token in them."""
    q_text, a_text = verifier_text(question, answer)
    a_ids = tokenizer(a_text or "(no answer)", add_special_tokens=False)["input_ids"]
    if spec.template == "chat":
        messages = ([{"role": "system", "content": spec.system}] if spec.system else []) \
            + [{"role": "user", "content": question.strip()}]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        wide = VerifierInput(max_length=spec.max_length, max_question_tokens=spec.max_prompt_tokens)
        return fit_ids(p_ids, a_ids, wide), min(len(p_ids), spec.max_prompt_tokens)
    q_ids = tokenizer(q_text, add_special_tokens=False)["input_ids"]
    return fit_ids(q_ids, a_ids, spec), min(len(q_ids), spec.max_question_tokens)


def pooling_mask(mask: Any, answer_starts: Sequence[int] | None) -> Any:
    """The tokens a mean probe averages: all real tokens, or (given the answers' starts) the answers' only."""
    if answer_starts is None:
        return mask
    pool = mask.clone()
    for row, start in enumerate(answer_starts):
        pool[row, :start] = 0
    return pool


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
    template = data.get("template", "plain")
    if template not in ("plain", "chat"):
        raise ValueError(f"unknown verifier template {template!r}")
    return VerifierInput(max_length=int(data["max_length"]), max_question_tokens=int(data["max_question_tokens"]),
                         head=head, template=template, system=data.get("system"),
                         max_prompt_tokens=int(data.get("max_prompt_tokens", 192)))


def write_probe(directory: Path, weight: Sequence[float], bias: float, *, layer: int | None = None,
                support: dict[str, float] | None = None) -> None:
    """Write a mean-pooled probe head (``probe.json``): logit = mean hidden state . weight + bias; with ``layer``
    and ``support`` (``{"min_mean_logprob": ...}``) the folder holds the whole causal LM (module docstring)."""
    data: dict[str, Any] = {"weight": [float(w) for w in weight], "bias": float(bias)}
    if layer is not None:
        data |= {"layer": int(layer), "support": dict(support or {})}
    (Path(directory) / PROBE_FILE).write_text(json.dumps(data), encoding="utf-8")


@dataclass(frozen=True)
class VerifierScore:
    """One answer's verifier reading: P(correct), and whether the answer lies where the verifier learned."""

    p: float
    in_support: bool = True
    mean_logprob: float | None = None
    """Mean log-probability of the answer's tokens under the backbone (None: the checkpoint has no LM head)."""
    writer_logit: float | None = None
    """The writer check's logit: above 0 the answer reads like the policy's own, below like another writer's
    (None: the checkpoint has no writer check)."""


def in_support(mean_logprob: float | None, support: dict[str, Any] | None, writer_logit: float | None = None) -> bool:
    """Whether an answer is as likely as the answers the verifier was trained on, and (where the checkpoint has a
    writer check) reads like the policy's own rather than another writer's.

    >>> in_support(-0.6, {"min_mean_logprob": -1.0}), in_support(-1.3, {"min_mean_logprob": -1.0})
    (True, False)
    >>> in_support(None, {"min_mean_logprob": -1.0}), in_support(-5.0, None)
    (True, True)
    >>> in_support(-0.6, {"min_mean_logprob": -1.0}, writer_logit=-2.0), in_support(-0.6, {}, writer_logit=0.5)
    (False, True)
    """
    bound = (support or {}).get("min_mean_logprob")
    likely = mean_logprob is None or bound is None or mean_logprob >= bound
    return likely and (writer_logit is None or writer_logit >= 0.0)


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


def masked_mean(hidden: Any, mask: Any) -> Any:
    """Hidden states (rows x tokens x width) averaged over each row's real tokens (float32, rows x width)."""
    weights = mask.unsqueeze(-1).float()
    return (hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def mean_pooled(backbone: Any, ids: Any, mask: Any, pool: Any = None) -> Any:
    """The backbone's last hidden states averaged over each row's real tokens, or over ``pool``'s (float32,
    rows x hidden)."""
    return masked_mean(backbone(input_ids=ids, attention_mask=mask).last_hidden_state, mask if pool is None else pool)


def pooled_and_logprob(causal_lm: Any, ids: Any, mask: Any, layer: int, answer_starts: Sequence[int],
                       pool: Any = None):
    """One forward pass of a whole causal LM: the mean of its normed hidden states after ``layer`` layers over
    ``pool``'s tokens (default all; what the cut backbone of ``mean_pooled`` gives: a backbone's last hidden state
    is normed), and each row's mean log-probability of its tokens from ``answer_starts[row]`` on.

    The LM head (a fifth of the model's weights, 49k logits a token) runs on the answer's positions only: the
    question's and the padding's logits were computed and thrown away."""
    import torch

    out = causal_lm.base_model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    states = out.hidden_states  # embeddings, then each layer's output; the last one already normed
    hidden = states[layer] if layer == len(states) - 1 else causal_lm.base_model.norm(states[layer])
    pooled = masked_mean(hidden, mask if pool is None else pool)
    head = causal_lm.get_output_embeddings()
    means = []
    for row, start in enumerate(answer_starts):
        end = int(mask[row].sum())
        first = max(1, start)  # a token's log-probability is read from the position before it
        if end <= first:
            means.append(0.0)
            continue
        logits = head(out.last_hidden_state[row, first - 1:end - 1]).float()
        tokens = ids[row, first:end]
        means.append(float(torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, None]).mean()))
    return pooled, means


def pooled_at_layer(causal_lm: Any, ids: Any, mask: Any, layer: int, pool: Any = None) -> Any:
    """``pooled_and_logprob``'s pooled states alone, from the first ``layer`` decoder layers only: where only the
    logit is wanted (the verifier gate, best-of-n), the other layers and the LM head are not run (6 of
    SmolLM2-135M's 30 layers: about a fifth of the pass). The result is the same as the whole pass's: the cut
    stack's last hidden state is normed as ``pooled_and_logprob`` norms its layer's."""
    backbone = causal_lm.base_model
    layers = getattr(backbone, "layers", None)
    if layers is None:  # an architecture that names its stack otherwise: the whole pass gives the same states
        return pooled_and_logprob(causal_lm, ids, mask, layer, [ids.shape[1]] * ids.shape[0], pool)[0]
    backbone.layers = layers[:layer]  # the Verifier's lock keeps every other call off this model meanwhile
    try:
        hidden = backbone(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    finally:
        backbone.layers = layers
    return masked_mean(hidden, mask if pool is None else pool)


def _keep_recent(cache: OrderedDict, key: Any, value: Any, limit: int) -> None:
    """Store ``value`` under ``key`` as the most recent entry of ``cache``; the oldest go past ``limit``."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def is_verifier_checkpoint(directory: str | Path) -> bool:
    """Whether a folder looks like a verifier checkpoint (its ``verifier.json`` is there)."""
    return (Path(directory) / CONFIG_FILE).is_file()


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` for a block, then restored (None: unchanged). Process-wide while it
    lasts: the verifier computes under its own lock, and nothing else in the app computes with torch."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


class Verifier:
    """A verifier checkpoint in process: ``probabilities(pairs)`` -> P(correct) per (question, answer).

    Loading happens on first use (or ``load()``), once, under a lock; scoring is serialised by the same lock.
    """

    def __init__(self, path: str | Path, *, checkpoint_id: str | None = None, dtype: str = "auto",
                 batch_size: int = 8, num_threads: int | None = None) -> None:
        self.path = Path(path)
        self.num_threads = num_threads
        """torch threads while it computes (None: the process's); restored after each call."""
        self.checkpoint_id = checkpoint_id or self.path.name
        self.dtype = dtype
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._probe: Any = None
        self._layer: int | None = None
        self._writer: Any = None
        """The writer check (weight, bias) on the same pooled states, where the checkpoint has one."""
        self._seen: OrderedDict[tuple[str, str], tuple[float, float | None, float | None, bool]] = OrderedDict()
        """The last READINGS_KEPT readings (logit, log-probability, writer logit, whether the whole model ran): a checkpoint's
        reading of a pair never changes, and critique-eval's calibration fit reads every row twice (with and
        without its samples)."""
        self.support: dict[str, float] | None = None
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
        with MODEL_LOAD_LOCK:  # never beside another in-process load (serving.model_cache)
            self._load_weights()

    def _load_weights(self) -> None:
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
            probe = json.loads((self.path / PROBE_FILE).read_text(encoding="utf-8"))
            self._probe = (torch.tensor(probe["weight"], dtype=torch.float32), float(probe["bias"]))
            if probe.get("layer") is not None:
                from transformers import AutoModelForCausalLM

                model = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=dtype)
                self._layer, self.support = int(probe["layer"]), dict(probe.get("support") or {})
                writer = self.support.pop("writer", None)  # the check's weights; the support keeps the bounds
                if writer is not None:
                    self._writer = (torch.tensor(writer["weight"], dtype=torch.float32), float(writer["bias"]))
            else:
                model = AutoModel.from_pretrained(str(self.path), dtype=dtype)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(str(self.path), dtype=dtype)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.eval()
        self._tokenizer, self._model = tokenizer, model

    def readings(self, pairs: Sequence[tuple[str, str]], *, logprob: bool = True
                 ) -> list[tuple[float, float | None, float | None]]:
        """(raw logit, mean answer log-probability or None, writer logit or None) of each pair, in order; pairs read before are not
        computed again. ``logprob=False``: the logit is all the caller needs (the log-probability may come back
        None), so a checkpoint with a support runs only the probe's layers."""
        with self._lock:
            distinct = list(dict.fromkeys(pairs))
            found = {pair: self._seen[pair] for pair in distinct
                     if pair in self._seen and (self._seen[pair][3] or not logprob)}
            todo = [pair for pair in distinct if pair not in found]
            if todo:
                with torch_threads(self.num_threads):
                    self._load_locked()
                    whole = logprob or self._layer is None
                    computed = self._compute_locked(todo, whole)
                    found.update((pair, (z, m, w, whole)) for pair, (z, m, w) in zip(todo, computed))
            for pair in distinct:
                _keep_recent(self._seen, pair, found[pair], READINGS_KEPT)
            return [found[pair][:3] for pair in pairs]

    def _compute_locked(self, pairs: Sequence[tuple[str, str]], logprob: bool = True
                        ) -> list[tuple[float, float | None, float | None]]:
        """The readings of ``pairs``, computed in batches of similar length (the model loaded, the lock held)."""
        import torch

        out: list[tuple[float, float | None, float | None]] = [(0.0, None, None)] * len(pairs)
        pad = self._tokenizer.pad_token_id
        encoded = [encode_pair_with_start(self._tokenizer, q, a, self.spec) for q, a in pairs]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))  # similar lengths pad least
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            ids, mask = batch_ids([encoded[i][0] for i in chunk], pad)
            means: list[float | None] = [None] * len(chunk)
            writers: list[float | None] = [None] * len(chunk)
            starts = [encoded[i][1] for i in chunk]
            pool = pooling_mask(mask, starts if self.spec.template == "chat" else None)
            with torch.inference_mode():
                if self._probe is not None and self._layer is not None:
                    weight, bias = self._probe
                    if logprob:
                        pooled, means = pooled_and_logprob(self._model, ids, mask, self._layer, starts, pool)
                    else:
                        pooled = pooled_at_layer(self._model, ids, mask, self._layer, pool)
                    logits = pooled @ weight + bias
                    if self._writer is not None:
                        writers = [float(w) for w in (pooled @ self._writer[0] + self._writer[1]).float()]
                elif self._probe is not None:
                    weight, bias = self._probe
                    logits = mean_pooled(self._model, ids, mask, pool) @ weight + bias
                else:
                    logits = self._model(input_ids=ids, attention_mask=mask).logits[:, 0]
            for i, z, m, w in zip(chunk, logits.float(), means, writers):
                out[i] = (float(z), m, w)
        return out

    def forget_readings(self) -> None:
        """Drop the cached readings (the next call computes again)."""
        with self._lock:
            self._seen.clear()

    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The raw logit of each pair, in order (the probe's layers only: no support check)."""
        return [z for z, _, _ in self.readings(pairs, logprob=False)]

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """P(correct) of each (question, answer) pair, whether or not it lies in the verifier's support."""
        return [sigmoid(z) for z in self.logits(pairs)]

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[VerifierScore]:
        """P(correct) of each pair with whether the answer lies in the verifier's support."""
        return [VerifierScore(sigmoid(z), in_support(m, self.support, w), None if m is None else round(m, 4),
                              None if w is None else round(w, 3))
                for z, m, w in self.readings(pairs)]


_OPEN: OrderedDict[tuple[str, str, str, int | None, int], Verifier] = OrderedDict()
_OPEN_LOCK = threading.Lock()
VERIFIERS_KEPT = 2
"""Verifiers ``open_verifier`` keeps open (the live one and the one replacing it; ~0.5 GB each in fp32)."""


def open_verifier(path: str | Path, *, checkpoint_id: str | None = None, dtype: str = "auto",
                  num_threads: int | None = None) -> Verifier:
    """The process's one Verifier for a checkpoint folder and these settings (lazy: no weights read yet).

    Critics built for the same checkpoint (the app's, a refreshed one, each command of a CLI run, each test)
    share its weights and its readings instead of each loading the model again. A folder whose
    ``verifier.json`` changed since is opened afresh; a missing or unreadable one raises OSError or ValueError.
    """
    folder = Path(path)
    key = (str(folder.resolve()), checkpoint_id or folder.name, dtype, num_threads,
           (folder / CONFIG_FILE).stat().st_mtime_ns)
    with _OPEN_LOCK:
        verifier = _OPEN.get(key)
        if verifier is None:
            verifier = Verifier(folder, checkpoint_id=checkpoint_id, dtype=dtype, num_threads=num_threads)
        _keep_recent(_OPEN, key, verifier, VERIFIERS_KEPT)
        return verifier


def forget_open_readings() -> None:
    """Every open verifier forgets its readings: two apps in one process (``bench/critique_app.py``) share the
    verifier, so the second to judge an answer would read the first one's cached reading and seem to cost nothing."""
    with _OPEN_LOCK:
        for verifier in _OPEN.values():
            verifier.forget_readings()


def verifier_part(verifier: Verifier, question: str, answer: str) -> PartScore:
    """The verifier's PartScore: 1 + 9 * P(correct), with ``p`` and the checkpoint in ``data``; unscored (None)
    when the model cannot run, so the critique goes on without it."""
    try:
        score = verifier.scores([(question, answer)])[0]
    except Exception as error:  # a broken checkpoint must not take the critique down
        log.warning("verifier %s failed: %s", verifier.checkpoint_id, error)
        return PartScore("verifier", None, f"verifier unavailable ({type(error).__name__})")
    p = score.p
    data = {"p": round(p, 4), "checkpoint": verifier.checkpoint_id, "mean_logprob": score.mean_logprob,
            "writer_logit": score.writer_logit}
    if not score.in_support:
        return PartScore("verifier", None, "the trained verifier abstains: this answer reads unlike the policy's "
                                           "answers it learned from", data | {"abstained": True})
    return PartScore("verifier", round(1 + 9 * p, 2), f"trained verifier: P(correct) {p:.0%} (no reference)", data)
