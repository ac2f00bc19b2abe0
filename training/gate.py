"""The promotion gate: a candidate goes live only if it beats live on the held-out set and keeps its language.

Pure: two evaluation reports in, a decision with its reasons out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from training.evaluate import compare


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate may be promoted, and why."""

    promotable: bool
    reasons: list[str] = field(default_factory=list)
    accuracy_delta: float | None = None
    """Candidate minus live strict accuracy on the shared held-out questions (fraction)."""
    mcnemar_p: float | None = None
    perplexity_ratio: float | None = None
    """Candidate perplexity / live perplexity on the general text."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate(candidate_report: dict[str, Any], live_report: dict[str, Any], margin: float = 0.02,
         ppl_tolerance: float = 0.05, *, require_significant: bool = True, alpha: float = 0.05) -> GateDecision:
    """Promotable only when strict accuracy rises by at least ``margin`` (and, if required, McNemar
    p < ``alpha``) and perplexity rises by no more than ``ppl_tolerance`` (relative).

    >>> live = {"items": [{"source": "s", "question_id": str(i), "strict_correct": False} for i in range(40)],
    ...         "perplexity": 10.0}
    >>> cand = {"items": [{"source": "s", "question_id": str(i), "strict_correct": i < 20} for i in range(40)],
    ...         "perplexity": 10.2}
    >>> gate(cand, live).promotable, gate({**cand, "perplexity": 12.0}, live).promotable
    (True, False)
    """
    reasons: list[str] = []
    cmp = compare(candidate_report, live_report)
    if cmp["paired_questions"] == 0:
        return GateDecision(False, ["no shared held-out questions between the reports"])
    delta = cmp["candidate_rate"] - cmp["baseline_rate"]
    ok = True
    if delta < margin:
        ok = False
        reasons.append(f"strict accuracy gain {delta:+.3f} is below the margin {margin:.3f}")
    if require_significant and not (cmp["mcnemar_p"] < alpha and delta > 0):
        ok = False
        reasons.append(f"gain not significant (McNemar p={cmp['mcnemar_p']:.3g} >= {alpha})")
    ratio = None
    cand_ppl, live_ppl = candidate_report.get("perplexity"), live_report.get("perplexity")
    if cand_ppl is None or live_ppl is None:
        ok = False
        reasons.append("perplexity missing from a report")
    else:
        ratio = cand_ppl / live_ppl
        if ratio > 1 + ppl_tolerance:
            ok = False
            reasons.append(f"general-text perplexity rose {ratio - 1:+.1%} (> {ppl_tolerance:.0%})")
    if ok:
        reasons.append(f"strict accuracy {delta:+.3f} (p={cmp['mcnemar_p']:.3g}), perplexity x{ratio:.3f}")
    return GateDecision(ok, reasons, delta, cmp["mcnemar_p"], ratio)
