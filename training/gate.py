"""The promotion gate: a candidate goes live only if it beats live on the held-out set and keeps its language.

Pure: two evaluation reports in, a decision out. The decision lists every guard it checked (name,
measured value, limit, passed), so the console can say which guard refused a candidate and by how much,
and the next cycle can adapt to it (``training/adapt.py``). Stored as ``Checkpoint.metrics["gate"]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from training.evaluate import compare

GUARDS = ("shared_questions", "accuracy_margin", "significance", "perplexity", "base_perplexity")
"""Guard names, in the order they are checked."""


@dataclass(frozen=True)
class GuardResult:
    """One guard of the gate: what was measured against what limit.

    ``bound="min"``: ``value`` must be at least ``limit``; ``"max"``: at most. ``by`` is how far ``value`` is
    on the wrong side of ``limit`` (positive when the guard failed, negative headroom when it passed; None
    when nothing was measured).
    """

    guard: str
    passed: bool
    value: float | None
    limit: float | None
    bound: Literal["min", "max"]
    message: str

    @property
    def by(self) -> float | None:
        if self.value is None or self.limit is None:
            return None
        return self.limit - self.value if self.bound == "min" else self.value - self.limit


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate may be promoted, every guard it checked, and the reasons as text."""

    promotable: bool
    reasons: list[str] = field(default_factory=list)
    """The failed guards' messages (or one line summing up a pass): for logs and older readers."""
    accuracy_delta: float | None = None
    """Candidate minus live strict accuracy on the shared held-out questions (fraction)."""
    mcnemar_p: float | None = None
    perplexity_ratio: float | None = None
    """Candidate perplexity / live perplexity on the general text."""
    guards: list[GuardResult] = field(default_factory=list)

    @property
    def failed_guards(self) -> list[str]:
        return [g.guard for g in self.guards if not g.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; each guard also carries ``by`` (how far past its limit)."""
        data = asdict(self)
        data["guards"] = [{**asdict(g), "by": g.by} for g in self.guards]
        data["failed_guards"] = self.failed_guards
        return data


def failed_guards(gate_dict: dict[str, Any] | None) -> list[str]:
    """The failed guards of a stored decision (``GateDecision.to_dict()``); decisions stored before guards
    existed are read from their reason texts.

    >>> failed_guards({"guards": [{"guard": "perplexity", "passed": False}, {"guard": "significance", "passed": True}]})
    ['perplexity']
    >>> failed_guards({"promotable": False, "reasons": ["general-text perplexity rose +6.0% (> 5%)"]})
    ['perplexity']
    """
    if not gate_dict:
        return []
    if gate_dict.get("guards"):
        return [g["guard"] for g in gate_dict["guards"] if not g.get("passed")]
    if gate_dict.get("promotable"):
        return []
    legacy = {"shared held-out": "shared_questions", "below the margin": "accuracy_margin",
              "not significant": "significance", "perplexity": "perplexity"}
    return [name for text, name in legacy.items() if any(text in r for r in gate_dict.get("reasons", []))]


def gate(candidate_report: dict[str, Any], live_report: dict[str, Any], margin: float = 0.02,
         ppl_tolerance: float = 0.05, *, require_significant: bool = True, alpha: float = 0.05,
         base_perplexity: float | None = None, base_ppl_tolerance: float | None = None) -> GateDecision:
    """Promotable only when strict accuracy rises by at least ``margin`` (and, if required, McNemar
    p < ``alpha``) and perplexity rises by no more than ``ppl_tolerance`` (relative) over live's.

    With ``base_perplexity`` (the model a chain of promotions started from, when live is no longer it) and
    ``base_ppl_tolerance``, perplexity may also rise by no more than that over the base's: each promotion
    within +5% of its live model let three chained cycles drift +9.5% from the base (bench/learning.py).

    >>> live = {"items": [{"source": "s", "question_id": str(i), "strict_correct": False} for i in range(40)],
    ...         "perplexity": 10.0}
    >>> cand = {"items": [{"source": "s", "question_id": str(i), "strict_correct": i < 20} for i in range(40)],
    ...         "perplexity": 10.2}
    >>> gate(cand, live).promotable, gate({**cand, "perplexity": 12.0}, live).failed_guards
    (True, ['perplexity'])
    >>> gate({**cand, "perplexity": 12.0}, live).reasons
    ['general-text perplexity rose +20.0%, over the +5.0% limit by 15.0 pts']
    """
    cmp = compare(candidate_report, live_report)
    if cmp["paired_questions"] == 0:
        shared = GuardResult("shared_questions", False, 0, 1, "min",
                             "no shared held-out questions between the reports")
        return GateDecision(False, [shared.message], guards=[shared])
    delta = cmp["candidate_rate"] - cmp["baseline_rate"]
    p = cmp["mcnemar_p"]
    guards = [GuardResult("shared_questions", True, cmp["paired_questions"], 1, "min",
                          f"{cmp['paired_questions']} shared held-out questions")]
    if delta < margin:
        msg = f"strict accuracy gain {delta:+.3f} is below the margin {margin:.3f} (short by {margin - delta:.3f})"
    else:
        msg = f"strict accuracy gain {delta:+.3f} meets the margin {margin:.3f}"
    guards.append(GuardResult("accuracy_margin", delta >= margin, delta, margin, "min", msg))
    if require_significant:
        significant = p < alpha and delta > 0
        if significant:
            msg = f"gain significant (McNemar p={p:.3g} < {alpha})"
        elif delta <= 0:
            msg = f"no gain to be significant (accuracy {delta:+.3f}, McNemar p={p:.3g})"
        else:
            msg = f"gain not significant (McNemar p={p:.3g} >= {alpha})"
        guards.append(GuardResult("significance", significant, p, alpha, "max", msg))
    ratio = None
    cand_ppl, live_ppl = candidate_report.get("perplexity"), live_report.get("perplexity")
    if cand_ppl is None or live_ppl is None:
        guards.append(GuardResult("perplexity", False, None, ppl_tolerance, "max", "perplexity missing from a report"))
    else:
        ratio = cand_ppl / live_ppl
        rise = ratio - 1
        if rise > ppl_tolerance:
            msg = (f"general-text perplexity rose {rise:+.1%}, over the {ppl_tolerance:+.1%} limit by "
                   f"{100 * (rise - ppl_tolerance):.1f} pts")
        else:
            msg = f"general-text perplexity {rise:+.1%} is within {ppl_tolerance:+.1%}"
        guards.append(GuardResult("perplexity", rise <= ppl_tolerance, rise, ppl_tolerance, "max", msg))
        if base_perplexity and base_ppl_tolerance is not None:
            guards.append(_base_guard(cand_ppl / base_perplexity - 1, base_ppl_tolerance))
    ok = all(g.passed for g in guards)
    if ok:
        reasons = [f"strict accuracy {delta:+.3f} (p={p:.3g}), perplexity x{ratio:.3f}"]
    else:
        reasons = [g.message for g in guards if not g.passed]
    return GateDecision(ok, reasons, delta, p, ratio, guards)


def _base_guard(rise: float, tolerance: float) -> GuardResult:
    """The chain's guard: perplexity against the base model the promotions started from.

    >>> _base_guard(0.07, 0.05).message
    'general-text perplexity is +7.0% over the base model, over the +5.0% limit by 2.0 pts'
    """
    if rise > tolerance:
        msg = (f"general-text perplexity is {rise:+.1%} over the base model, over the {tolerance:+.1%} limit by "
               f"{100 * (rise - tolerance):.1f} pts")
    else:
        msg = f"general-text perplexity {rise:+.1%} over the base model is within {tolerance:+.1%}"
    return GuardResult("base_perplexity", rise <= tolerance, rise, tolerance, "max", msg)


def tolerance_over_live(ppl_tolerance: float, live_perplexity: float | None, base_perplexity: float | None,
                        base_ppl_tolerance: float | None) -> float:
    """The rise over live's perplexity a candidate may have under both guards (what a round plan projects against).

    >>> tolerance_over_live(0.05, 10.0, None, 0.05)
    0.05
    >>> round(tolerance_over_live(0.05, 10.3, 10.0, 0.05), 4)  # live already +3% over the base: 1.05 / 1.03 - 1
    0.0194
    """
    if not (live_perplexity and base_perplexity) or base_ppl_tolerance is None:
        return ppl_tolerance
    return min(ppl_tolerance, (1 + base_ppl_tolerance) * base_perplexity / live_perplexity - 1)


def pick_best(reports: dict[str, dict[str, Any]], promotable: dict[str, bool] | None = None) -> str:
    """Which candidate report wins: one that passed its gate before one that did not, then higher strict
    accuracy, then higher critique mean. So when the last round drifted past the perplexity guard, an
    earlier round that stayed within it is the candidate (with ``eval_every_round`` it was evaluated).

    >>> r = lambda acc, mean: {"summary": {"overall": {"strict_accuracy": {"rate": acc}, "mean_score": mean}}}
    >>> pick_best({"rft": r(0.2, 5.0), "dpo": r(0.2, 5.5)})
    'dpo'
    >>> pick_best({"rft2": r(0.3, 5.0), "rft3": r(0.4, 5.0)}, promotable={"rft2": True, "rft3": False})
    'rft2'
    """
    passed = promotable or {}

    def key(name: str) -> tuple[bool, float, float]:
        o = reports[name]["summary"]["overall"]
        return (passed.get(name, False), o["strict_accuracy"]["rate"] or 0.0, o.get("mean_score") or 0.0)

    return max(reports, key=key)
