"""The critique's result types and the Critic interface, shared by the app, the store and training."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class PartScore:
    """One part of the critic (judge, answer_match, steps, consistency), kept and reported separately."""

    name: str
    score: float | None
    """1-10 on the paper's scale, or None when the part could not judge (e.g. no reference)."""
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CritiqueResult:
    """The merged verdict on one answer."""

    score: int | None
    """Final 1-10 score; None means unscored (never an invented score)."""
    band: str | None
    passed: bool | None
    confidence: float | None
    """Calibrated probability that the answer is right."""
    explanation: str
    parts: dict[str, PartScore]
    critic_version: str
    calibration_version: str
    has_reference: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the store and exports)."""
        return asdict(self)


class Critic(Protocol):
    """Anything that judges an answer."""

    def critique(
        self,
        question: str,
        answer: str,
        reference: str | None = None,
        *,
        samples: list[str] | None = None,
    ) -> CritiqueResult:
        """Judge one answer; ``samples`` are extra policy answers for self-consistency (drawn if None)."""
        ...
