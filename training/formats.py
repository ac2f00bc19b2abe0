"""The JSONL row shapes we write and TRL reads: one place for each format, each shown as a literal row.

They follow TRL's *conversational* dataset formats (prompt/completion, preference, unpaired preference),
so ``datasets.load_dataset("json", data_files=...)`` feeds them straight to ``SFTTrainer``,
``DPOTrainer`` and ``KTOTrainer``. ``MathUserEvalRow`` is the released MathUserEval format
(github.com/THUDM/ChatGLM-Math), which our evaluation reads and ``mathchat export`` can write.

Bump ``FORMAT_VERSION`` when any shape or its meaning changes; every export manifest records it.
"""

from __future__ import annotations

from typing import Literal, TypedDict

FORMAT_VERSION = 1
"""Version of the row shapes below (stamped into every export manifest)."""


class ChatMessage(TypedDict):
    """One chat turn: ``{"role": "user", "content": "What is 2+3?"}``."""

    role: Literal["system", "user", "assistant"]
    content: str


class SFTRow(TypedDict):
    """Conversational prompt/completion row for ``SFTTrainer`` (train on the completion only).

    ``{"prompt": [{"role": "user", "content": "What is 2+3?"}],
    "completion": [{"role": "assistant", "content": "2+3 = 5. The answer is 5."}]}``
    """

    prompt: list[ChatMessage]
    completion: list[ChatMessage]


class PreferenceRow(TypedDict):
    """Conversational preference row (explicit prompt) for ``DPOTrainer``.

    ``{"prompt": [{"role": "user", "content": "What is 2+3?"}],
    "chosen": [{"role": "assistant", "content": "2+3 = 5. The answer is 5."}],
    "rejected": [{"role": "assistant", "content": "2+3 = 6. The answer is 6."}]}``
    """

    prompt: list[ChatMessage]
    chosen: list[ChatMessage]
    rejected: list[ChatMessage]


class KTORow(TypedDict):
    """Conversational unpaired-preference row for ``KTOTrainer`` (a student's thumbs up/down).

    ``{"prompt": [{"role": "user", "content": "What is 2+3?"}],
    "completion": [{"role": "assistant", "content": "2+3 = 6. The answer is 6."}],
    "label": false}``
    """

    prompt: list[ChatMessage]
    completion: list[ChatMessage]
    label: bool


class MathUserEvalRow(TypedDict):
    """One MathUserEval item; ``question_id`` is unique only together with ``source``.

    ``{"question_id": 17, "source": "mathchat", "question": "What is 2+3?", "reference": "5",
    "category": "user", "subcategory": "chat"}``

    ``reference`` may be null in our exports (no trusted answer yet); the critic then judges without one.
    """

    question_id: int | str
    source: str
    question: str
    reference: str | None
    category: str
    subcategory: str


class VerifierRow(TypedDict):
    """One labelled answer for the verifier (``training/verifier_data.py``): P(correct | question, answer) is
    learnt from ``label``, the reference check of the answer; the reference itself is never an input.

    ``{"id": "3f2a9c1e0b7d4a55-9a0b1c2d3e4f", "question_id": "seed-3f2a9c1e0b7d4a55", "question": "What is 2+3?",
    "answer": "2 + 3 = 5. The answer is 5.", "label": true, "split": "train", "checkpoint": "rft-r00003-20261202-1200",
    "temperature": 0.6, "source": "policy", "sample_id": "seed-3f2a9c1e0b7d4a55#0", "finish_reason": "stop",
    "run_id": 3, "features": {"has_final": 1.0, "steps_checked": 1.0}}``
    """

    id: str
    question_id: str
    question: str
    answer: str
    label: bool
    split: Literal["train", "held_out"]
    checkpoint: str | None
    temperature: float | None
    source: str
    sample_id: str | None
    finish_reason: str | None
    run_id: int | None
    features: dict[str, float]
