"""The verdict the student sees: right, wrong, or "can't check" (unverified) when the evidence is weak.

A calibrated number is not trust by itself. Without a reference, two trivially true steps ("10 * 3 = 30")
made a nonsense answer look 86% right. So, without a reference, "right" needs corroboration (enough
checked steps that compute the final answer, agreeing policy samples, or a trained verifier's probability at or
above ``verifier_agree_at``), a confidence at or above
``confident_at`` and no red flag (a wrong step, an invented operand, a question number never used);
"wrong" needs a definite defect (no final value, a final computed from a wrong step) or a confidence at
or below ``doubtful_below`` on some evidence. Everything else is unverified. With a checked reference
the verdict is the reference's. The thresholds live in ``mathchat.settings.VerdictSettings`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mathchat.settings import VerdictSettings
from serving.critique.types import PartScore

RIGHT, WRONG, UNVERIFIED = "right", "wrong", "unverified"
NOT_VERIFIED = "Not verified — check this answer yourself"
"""What the student is told when the evidence cannot back a verdict (the badge and the explanation)."""


@dataclass(frozen=True)
class Verdict:
    """One of RIGHT, WRONG, UNVERIFIED, with the reasons in plain words."""

    name: str
    reasons: tuple[str, ...] = ()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def red_flags(steps: PartScore | None) -> list[str]:
    """What in the shown work forbids calling the answer right without a reference.

    >>> red_flags(PartScore("steps", 5.0, data={"unused": ["1.2"], "ungrounded": [], "wrong": []}))
    ['the work never uses 1.2 from the question']
    """
    if steps is None or steps.score is None:
        return []
    data = steps.data
    flags = [f"a shown step is wrong ({w['text']})" for w in (data.get("wrong") or [])[:1]]
    if data.get("ungrounded"):
        flags.append(f"numbers that appear from nowhere ({', '.join(data['ungrounded'][:3])})")
    if data.get("unused"):
        flags.append(f"the work never uses {', '.join(data['unused'][:3])} from the question")
    if data.get("has_final") and not data.get("final_supported", True):
        flags.append("no shown step computes the final answer")
    flags.extend((data.get("misfit") or [])[:1])
    return flags


def corroboration(parts: Mapping[str, PartScore], settings: VerdictSettings) -> list[str]:
    """Independent evidence that can back "right" without a reference.

    >>> steps = PartScore("steps", 10.0, data={"n_equations": 2, "final_supported": True})
    >>> corroboration({"steps": steps}, VerdictSettings())
    ['2 checked steps compute the final answer']
    """
    found = []
    steps = parts.get("steps")
    if steps is not None and steps.score is not None and steps.data.get("final_supported", True) \
            and steps.data.get("n_equations", 0) >= settings.min_checked_steps:
        found.append(f"{steps.data['n_equations']} checked steps compute the final answer")
    cons = parts.get("consistency")
    if cons is not None and cons.score is not None and cons.data.get("k", 0) >= settings.min_consistency_k \
            and cons.data.get("fraction", 0.0) >= settings.consistency_agree_at:
        found.append(f"{cons.data['agree']} of {cons.data['k']} fresh samples reach the same answer")
    p = verifier_probability(parts)
    if p is not None and p >= settings.verifier_agree_at:
        found.append(f"the trained verifier gives it {p:.0%}")
    return found


def verifier_probability(parts: Mapping[str, PartScore]) -> float | None:
    """The trained verifier's P(correct), when it scored the answer.

    >>> verifier_probability({"verifier": PartScore("verifier", 8.2, data={"p": 0.8})}), verifier_probability({})
    (0.8, None)
    """
    part = parts.get("verifier")
    if part is None or part.score is None:
        return None
    return float(part.data.get("p", (part.score - 1) / 9))


def _missing_evidence(parts: Mapping[str, PartScore], settings: VerdictSettings) -> list[str]:
    """Why the corroboration is missing, part by part."""
    steps, cons = parts.get("steps"), parts.get("consistency")
    n = steps.data.get("n_equations", 0) if steps is not None and steps.score is not None else 0
    reasons = [f"only {_plural(n, 'checkable step')}" if n else "no checkable arithmetic steps"]
    if cons is not None and cons.data.get("late"):
        reasons.append("the self-consistency samples were not ready in time")
    elif cons is None or cons.score is None:
        reasons.append("no self-consistency samples")
    elif cons.data.get("k", 0) < settings.min_consistency_k:
        reasons.append(f"only {_plural(cons.data.get('k', 0), 'self-consistency sample')}")
    else:
        reasons.append(f"only {cons.data.get('agree', 0)} of {cons.data.get('k', 0)} samples agree")
    p = verifier_probability(parts)
    if p is not None:
        reasons.append(f"the trained verifier gives only {p:.0%}")
    elif (parts.get("verifier") is not None and parts["verifier"].data.get("abstained")):
        reasons.append("the trained verifier abstains (the answer reads unlike the answers it learned from)")
    return reasons


def decide_verdict(parts: Mapping[str, PartScore], confidence: float | None, passed: bool | None,
                   settings: VerdictSettings | None = None) -> Verdict | None:
    """Right, wrong or unverified from the parts and the calibrated confidence; None when unscored.

    >>> clean = PartScore("steps", 10.0, data={"n_equations": 1, "final_supported": True, "has_final": True})
    >>> decide_verdict({"steps": clean}, 0.9, True).name
    'unverified'
    >>> decide_verdict({"steps": PartScore("steps", 2.0, data={"final_placeholder": "N"})}, 0.9, False).reasons
    ("the final answer 'N' is not a value",)
    """
    settings = settings or VerdictSettings()
    steps = parts.get("steps")
    data = steps.data if steps is not None else {}
    if data.get("final_placeholder") is not None:
        return Verdict(WRONG, (f"the final answer {data['final_placeholder']!r} is not a value",))
    if passed is None:
        return None
    match = parts.get("answer_match")
    if match is not None and match.score is not None:
        return Verdict(RIGHT if passed else WRONG, ("checked against the reference answer",))
    if data.get("final_tainted"):
        return Verdict(WRONG, ("the final answer is computed from a wrong step",))
    flags = red_flags(steps)
    support = corroboration(parts, settings)
    if confidence is not None and confidence <= settings.doubtful_below and (flags or _has_evidence(parts, settings)):
        return Verdict(WRONG, tuple(flags) or (f"confidence {confidence:.0%}",))
    if confidence is not None and confidence >= settings.confident_at and support and not flags:
        return Verdict(RIGHT, tuple(support))
    no_reference = "no reference answer" if match is None else "the reference states no checkable final answer"
    reasons = [no_reference, *flags, *([] if support else _missing_evidence(parts, settings))]
    if confidence is not None and settings.doubtful_below < confidence < settings.confident_at:
        reasons.append(f"confidence {confidence:.0%} is too uncertain")
    return Verdict(UNVERIFIED, tuple(reasons))


def _has_evidence(parts: Mapping[str, PartScore], settings: VerdictSettings) -> bool:
    """Whether any part checked something (a low confidence from no evidence at all says nothing); the
    verifier counts when it doubts the answer."""
    if any(p.score is not None for name, p in parts.items() if name in ("steps", "consistency")):
        return True
    p = verifier_probability(parts)
    return p is not None and p <= settings.verifier_doubt_below
