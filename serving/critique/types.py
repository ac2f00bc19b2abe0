"""The critique's result types and the Critic interface, shared by the app, the store and training."""

from __future__ import annotations

from collections.abc import Callable
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
    verdict: str | None = None
    """What the student is told: "right", "wrong" or "unverified" (the evidence cannot back a verdict);
    None when unscored. See ``serving.critique.verdict``."""
    verdict_reasons: list[str] = field(default_factory=list)
    """Why, in plain words (e.g. "no reference answer", "only 1 checkable step")."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the store and exports)."""
        return asdict(self)

    def to_row(self) -> dict[str, Any]:
        """The plain row ``feedback.store.save_critique`` stores: one value per ``Critique`` column, so the
        store never needs this type. Each part's score gets its own column; all parts, and the verdict as a
        part-shaped entry, go to the ``parts`` JSON.

        >>> r = CritiqueResult(8, "right_flawed", True, 0.9, "ok", {"steps": PartScore("steps", 7.0)}, "mc1", "c1")
        >>> row = r.to_row(); row["steps_score"], row["judge_score"], sorted(row["parts"])
        (7.0, None, ['steps', 'verdict'])
        """
        row = {name: getattr(self, name) for name in ("score", "band", "passed", "confidence", "explanation",
                                                     "has_reference", "critic_version", "calibration_version")}
        for name, column in PART_COLUMNS.items():
            part = self.parts.get(name)
            row[column] = part.score if part is not None else None
        row["parts"] = {**self.to_dict()["parts"], VERDICT_KEY: verdict_entry(self)}
        return row


PART_COLUMNS = {
    "judge": "judge_score",
    "answer_match": "answer_score",
    "steps": "steps_score",
    "consistency": "consistency_score",
}
"""Critic part name -> the row field (a ``Critique`` column) that holds its score."""


VERDICTS = ("right", "wrong", "unverified")
VERDICT_KEY = "verdict"
"""Where a stored critique keeps its verdict: an entry of its ``parts`` JSON, shaped like a part."""


def stored_verdict(parts: dict[str, Any] | None) -> str | None:
    """The verdict kept in a stored critique's ``parts`` JSON (None for rows stored before verdicts existed).

    >>> stored_verdict({"verdict": {"name": "verdict", "data": {"verdict": "unverified"}}}), stored_verdict(None)
    ('unverified', None)
    """
    entry = (parts or {}).get(VERDICT_KEY) or {}
    return (entry.get("data") or {}).get("verdict")


def verdict_entry(result: CritiqueResult) -> dict[str, Any]:
    """The verdict as a part-shaped JSON entry, for the store's ``parts`` column."""
    return {"name": VERDICT_KEY, "score": None, "detail": "; ".join(result.verdict_reasons),
            "data": {"verdict": result.verdict, "reasons": list(result.verdict_reasons)}}


class Critic(Protocol):
    """Anything that judges an answer."""

    def critique(
        self,
        question: str,
        answer: str,
        reference: str | None = None,
        *,
        samples: list[str] | Callable[[], list[str] | None] | None = None,
    ) -> CritiqueResult:
        """Judge one answer; ``samples`` are extra policy answers for self-consistency (drawn if None), or a
        callable giving them, called only if they are still wanted."""
        ...
