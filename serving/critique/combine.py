"""Merging the parts into the paper's 1-10 score and an explanation that names the wrong steps.

With a checkable reference the bands are decided symbolically (the paper's rubric):
right + clean steps -> 9-10; right + wrong steps -> 6-8; wrong + only late wrong steps -> 3-5;
wrong + an early wrong step, or no visible slip (a misread question) -> 1-2. The judge only moves a
score inside its band. Without a reference the calibrated confidence decides right vs wrong (so
pass <=> confidence >= 0.5) and the steps still pick the band; a stated placeholder ("The answer is N")
is no answer (1-2). What the student is told is the verdict (``verdict.py``), not the pass mark.
"""

from __future__ import annotations

from collections.abc import Mapping

from serving.critique.types import PartScore
from serving.critique.verdict import NOT_VERIFIED, UNVERIFIED, Verdict

_PART_ORDER = ("answer_match", "steps", "consistency", "verifier", "judge")


def _score_with_reference(match: PartScore, steps: PartScore | None, judge: PartScore | None) -> int:
    wrong = (steps.data.get("wrong") or []) if steps else []
    judge_low = judge is not None and judge.score is not None and judge.score <= 5
    judge_high = judge is not None and judge.score is not None and judge.score >= 6
    if match.score is not None and match.score >= 5.5:
        if wrong:
            return 7 if len(wrong) == 1 else 6
        checked = steps is not None and steps.score is not None
        return 9 if judge_low or not checked else 10
    if wrong and wrong[0]["early"]:
        return 2 if judge_high else 1
    if wrong:
        return 3 if len(wrong) > 1 else (5 if judge_high else 4)
    return 2


def _score_without_reference(confidence: float, steps: PartScore | None) -> int:
    wrong = (steps.data.get("wrong") or []) if steps else []
    if confidence >= 0.5:
        if wrong:
            return 8 if confidence >= 0.85 else 7
        return 10 if confidence >= 0.9 else 9
    if wrong and wrong[0]["early"]:
        return 1 if confidence < 0.25 else 2
    if wrong:
        return 3 if confidence < 0.2 else (4 if confidence < 0.35 else 5)
    return 1 + int(confidence * 10)


def combine_score(parts: Mapping[str, PartScore], confidence: float | None) -> int | None:
    """Final 1-10 score, or None when no part could judge (never invented).

    >>> match = PartScore("answer_match", 10.0)
    >>> clean = PartScore("steps", 10.0, data={"wrong": []})
    >>> slip = PartScore("steps", 7.0, data={"wrong": [{"early": False}]})
    >>> combine_score({"answer_match": match, "steps": clean}, 0.99), combine_score({"answer_match": match, "steps": slip}, 0.9)
    (10, 7)
    >>> combine_score({"answer_match": PartScore("answer_match", 1.0), "steps": PartScore("steps", 2.0, data={"wrong": [{"early": True}]})}, 0.01)
    1
    >>> combine_score({"steps": PartScore("steps", None)}, 0.5) is None
    True
    >>> combine_score({"steps": PartScore("steps", None, data={"final_placeholder": "N"})}, None)
    2
    """
    match = parts.get("answer_match")
    if match is not None and match.score is not None:
        return _score_with_reference(match, parts.get("steps"), parts.get("judge"))
    steps = parts.get("steps")
    if steps is not None and steps.data.get("final_placeholder") is not None:  # "The answer is N": no answer
        return 1 if steps.data.get("first_wrong_early") else 2
    if confidence is None or all(p.score is None for p in parts.values()):
        return None
    return _score_without_reference(confidence, steps)


def explain(parts: Mapping[str, PartScore], score: int | None, band_label: str,
            verdict: Verdict | None = None) -> str:
    """The explanation shown to the student: verdict first, then each wrong step, then the other evidence.

    >>> print(explain({}, 9, "Answer and all steps right", Verdict(UNVERIFIED, ("no reference answer",))))
    Not verified — check this answer yourself (no reference answer).
    Provisional score 9/10: Answer and all steps right.
    """
    lines: list[str] = []
    if verdict is not None and verdict.name == UNVERIFIED:
        lines.append(f"{NOT_VERIFIED} ({'; '.join(verdict.reasons)}).")
    if score is None:
        lines.append("Not scored: no part of the critic could judge this answer.")
    else:
        provisional = "Provisional score" if verdict is not None and verdict.name == UNVERIFIED else "Score"
        lines.append(f"{provisional} {score}/10: {band_label}.")
    match = parts.get("answer_match")
    if match is not None and match.score is not None:
        lines.append(match.detail[0].upper() + match.detail[1:] + ".")
    steps = parts.get("steps")
    if steps is not None:
        for i, wrong in enumerate(steps.data.get("wrong") or [], 1):
            where = "early" if wrong["early"] else "late"
            lines.append(f"Wrong step {i} ({where}): {wrong['description']}.")
        if steps.score is not None and not steps.data.get("wrong"):
            lines.append(f"All {steps.data.get('n_equations', 0)} arithmetic steps check out.")
        if steps.data.get("final_tainted"):
            lines.append("The final answer is computed from a wrong step.")
        if steps.data.get("ungrounded"):
            lines.append(f"Numbers not in the question: {', '.join(steps.data['ungrounded'][:5])} (misread?).")
        if steps.data.get("unused"):
            lines.append(f"The work never uses {', '.join(steps.data['unused'][:5])} from the question.")
        for reason in steps.data.get("misfit") or []:
            lines.append(reason[0].upper() + reason[1:] + ".")
        if steps.data.get("final_placeholder") is not None:
            lines.append(f"The final answer {steps.data['final_placeholder']!r} is not a value: no final answer is given.")
    for name, prefix in (("consistency", "Self-consistency"), ("verifier", "Verifier"), ("judge", "Judge")):
        part = parts.get(name)
        if part is not None and part.score is not None:
            lines.append(f"{prefix}: {part.detail}")
        elif part is not None and part.data.get("late"):  # the student waited no longer: say what was skipped
            lines.append(part.detail[0].upper() + part.detail[1:] + ".")
    return "\n".join(lines)
