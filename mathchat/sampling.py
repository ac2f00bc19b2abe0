"""The one sampling object that flows through the UI, the RFT sampler and evaluation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


MAX_ANSWER_TOKENS = 1024
"""The most answer tokens a student may ask for, on the page's slider and in the JSON API alike."""


class SamplingSettings(BaseModel):
    """Sampling parameters, always passed explicitly to an engine.

    >>> SamplingSettings(temperature=0.0, max_tokens=64).to_openai_kwargs()["temperature"]
    0.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.7, ge=0.0, le=2.0)
    """Softmax temperature; 0 means greedy."""
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    """Nucleus-sampling mass (fraction)."""
    top_k: int = Field(0, ge=0, le=100_000)
    """Sample among the k most likely tokens only (0 = off). On CPU vLLM a top-k cut is much cheaper than a
    nucleus (top-p < 1 sorts the whole vocabulary every step)."""
    max_tokens: int = Field(384, ge=1, le=8192)
    """Upper bound on generated tokens per answer."""
    seed: int | None = None
    """Sampling seed; None lets the engine choose."""
    repetition_penalty: float = Field(1.0, ge=0.5, le=2.0)
    """Multiplicative penalty on repeated tokens (1.0 = off)."""

    def to_openai_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for an OpenAI-compatible chat/completions request (vLLM accepts the extras)."""
        kwargs: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.top_k:
            kwargs["top_k"] = self.top_k
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if self.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = self.repetition_penalty
        return kwargs

    def with_(self, **changes: Any) -> "SamplingSettings":
        """A copy with some fields changed (validated)."""
        return SamplingSettings(**{**self.model_dump(), **changes})
