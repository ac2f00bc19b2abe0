"""In-process transformers backend, for machines where vLLM can't run (and for evaluating checkpoint folders).

One model, one lock: generation calls are serialised; ``sample_many`` batches conversations (left padding)
to get what throughput a CPU allows. Torch threads are pinned because 2 threads on a busy 2-core machine
ran 25x slower than 1 (DESIGN.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mathchat.hardware import local_dtype
from serving.engine import ChatMessage, EngineError, Health, Sample, SampleCancelled, StreamEvent
from serving.model_cache import MODEL_LOAD_LOCK, PAD_TOKEN
from mathchat.sampling import SamplingSettings

if TYPE_CHECKING:
    from transformers import StoppingCriteriaList


class HFEngine:
    """transformers ``generate`` behind the PolicyEngine interface."""

    backend = "transformers"

    def __init__(self, model_path: str | Path, checkpoint_id: str | None = None, dtype: str = "auto",
                 num_threads: int | None = 1, max_batch: int = 16) -> None:
        import torch

        if num_threads:
            torch.set_num_threads(num_threads)
        self._torch = torch
        self.model_path = str(model_path)
        self._checkpoint_id = checkpoint_id or Path(self.model_path).name
        with MODEL_LOAD_LOCK:  # never beside another in-process load (serving.model_cache)
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            self.model = AutoModelForCausalLM.from_pretrained(
                self.model_path, dtype=getattr(torch, local_dtype(dtype))).to("cuda" if torch.cuda.is_available() else "cpu")
        if self.tokenizer.pad_token is None or self.tokenizer.pad_token == self.tokenizer.eos_token:
            if PAD_TOKEN in self.tokenizer.get_vocab():
                self.tokenizer.pad_token = PAD_TOKEN
            else:
                self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.model.eval()
        self.max_batch = max_batch
        self._lock = threading.Lock()

    @property
    def checkpoint_id(self) -> str:
        return self._checkpoint_id

    def _encode(self, conversations: Sequence[Sequence[ChatMessage]]):
        texts = [self.tokenizer.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.model.device)

    def _gen_kwargs(self, sampling: SamplingSettings) -> dict:
        kwargs = {"max_new_tokens": sampling.max_tokens, "pad_token_id": self.tokenizer.pad_token_id,
                  "repetition_penalty": sampling.repetition_penalty}
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
            if sampling.top_k:
                kwargs["top_k"] = sampling.top_k
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> Iterator[StreamEvent]:
        from transformers import TextIteratorStreamer

        inputs = self._encode([messages])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        result: dict[str, object] = {}

        def run() -> None:
            try:
                with self._lock, self._torch.inference_mode():
                    if sampling.seed is not None:
                        self._torch.manual_seed(sampling.seed)
                    result["out"] = self.model.generate(**inputs, streamer=streamer, **self._gen_kwargs(sampling))
            except Exception as exc:  # surfaced to the caller below
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                yield StreamEvent(delta=piece, checkpoint_id=self._checkpoint_id)
        thread.join()
        if "error" in result:
            raise EngineError(f"generation failed: {result['error']}")
        out = result["out"]
        prompt_len = inputs["input_ids"].shape[1]
        generated = out[0, prompt_len:]
        n_tokens = int((generated != self.tokenizer.pad_token_id).sum())
        finish = "length" if n_tokens >= sampling.max_tokens else "stop"
        yield StreamEvent(done=True, finish_reason=finish, prompt_tokens=prompt_len, completion_tokens=n_tokens,
                          checkpoint_id=self._checkpoint_id)

    def sample(self, messages: Sequence[ChatMessage], sampling: SamplingSettings, n: int = 1,
               logprobs: bool = False, cancel: threading.Event | None = None) -> list[Sample]:
        return self._sample_batches([messages], sampling, n, logprobs, cancel)[0]

    def sample_many(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings,
                    n: int = 1, logprobs: bool = False) -> list[list[Sample]]:
        return self._sample_batches(conversations, sampling, n, logprobs, None)

    def _sample_batches(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings, n: int,
                        logprobs: bool, cancel: threading.Event | None) -> list[list[Sample]]:
        if n > 1 and sampling.temperature == 0:
            raise ValueError("n > 1 needs temperature > 0 (greedy samples are identical)")
        per_batch = max(1, self.max_batch // n)
        results: list[list[Sample]] = []
        for start in range(0, len(conversations), per_batch):
            results.extend(self._generate(conversations[start:start + per_batch], sampling, n, logprobs, cancel))
        return results

    def _generate(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings, n: int,
                  logprobs: bool, cancel: threading.Event | None) -> list[list[Sample]]:
        torch = self._torch
        inputs = self._encode(conversations)
        extra = {} if cancel is None else {"stopping_criteria": _stop_when_set(cancel)}
        with self._lock, torch.inference_mode():
            if cancel is not None and cancel.is_set():
                raise SampleCancelled("cancelled before generation started")
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            out = self.model.generate(**inputs, num_return_sequences=n, return_dict_in_generate=True,
                                      output_scores=logprobs, **self._gen_kwargs(sampling), **extra)
        if cancel is not None and cancel.is_set():
            raise SampleCancelled("cancelled; generation stopped at the next token")
        prompt_len = inputs["input_ids"].shape[1]
        seqs = out.sequences[:, prompt_len:]
        token_lps = None
        if logprobs:
            token_lps = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        eos_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id,
                   self.tokenizer.convert_tokens_to_ids("<|im_end|>")}
        grouped: list[list[Sample]] = []
        for i in range(len(conversations)):
            group = []
            for j in range(n):
                row = seqs[i * n + j].tolist()
                length = next((k for k, t in enumerate(row) if t in eos_ids), len(row))
                text = self.tokenizer.decode(row[:length], skip_special_tokens=True)
                lp = token_lps[i * n + j, :length].float().tolist() if token_lps is not None else None
                finish = "stop" if length < len(row) or length < sampling.max_tokens else "length"
                group.append(Sample(text=text, finish_reason=finish, num_tokens=length, token_logprobs=lp))
            grouped.append(group)
        return grouped

    def health(self) -> Health:
        return Health(ok=True, backend=self.backend, checkpoint_id=self._checkpoint_id,
                      extra={"model_path": self.model_path})


def _stop_when_set(cancel: threading.Event) -> StoppingCriteriaList:
    """A ``generate`` stopping criterion that ends every sequence once ``cancel`` is set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancelled(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Cancelled()])
