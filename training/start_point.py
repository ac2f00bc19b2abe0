"""Which model a cycle samples and trains from: live, or the last cycle's candidate that gained too little to prove.

The gate promotes a candidate only when its gain over live is at least the margin and significant (McNemar on
the held-out set). A second cycle in a chain typically gains a few points, which 250 questions cannot prove
(bench/learning.py, 2026-12-06: 36.0% -> 39.2%, p = 0.59, refused); the next cycle then started from live again
and relearned what the refused one had learned. Instead, when the last candidate was refused **only** for the
size or significance of a gain it did make (accuracy above live, every perplexity guard passed) and it still
descends from the live model, the next cycle continues from it, and its own candidate is gated against live as
always: gains below what one cycle can prove add up until they can be proved. Perplexity is still guarded against
live and against the chain's base, so the drift the unproven candidate brought counts against the next one.

Pure: the previous run (``training.adapt.PreviousRun``) and live's id in, a ``StartPoint`` or None (live) out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from training.adapt import PreviousRun
from training.gate import failed_guards

UNPROVEN_GUARDS = frozenset({"accuracy_margin", "significance"})
"""The guards a candidate may have failed and still be continued from: it gained, but not enough to prove."""


@dataclass(frozen=True)
class StartPoint:
    """A cycle's starting model when it is not live."""

    id: str
    path: str
    note: str
    accuracy_delta: float
    """Its held-out accuracy gain over live, as the gate measured it."""
    ppl_ratio: float | None
    """Its general-text perplexity over live's (None: not measured)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unproven_start(previous: PreviousRun | None, live_id: str) -> tuple[StartPoint | None, str]:
    """The previous run's candidate to continue from, or None (start from live); and why, in words.

    >>> gained = {"promotable": False, "accuracy_delta": 0.032, "guards": [
    ...     {"guard": "accuracy_margin", "passed": True}, {"guard": "significance", "passed": False, "value": 0.59},
    ...     {"guard": "perplexity", "passed": True, "value": 0.011, "limit": 0.05}]}
    >>> run = PreviousRun(4, gained, "rft2", candidate_id="rft2-r4", candidate_path="/ck/rft2-r4",
    ...                   candidate_status="candidate", candidate_lineage=("rft-r4", "live-1"))
    >>> start, why = unproven_start(run, "live-1")
    >>> start.id, round(start.ppl_ratio, 3)
    ('rft2-r4', 1.011)
    >>> print(why)
    continuing from run 4's candidate rft2-r4: it gained +3.2 points over live within every perplexity guard, refused only by significance
    >>> unproven_start(run, "live-2")[1]
    "run 4's candidate rft2-r4 does not descend from live live-2: starting from live"
    """
    if previous is None or previous.verdict is None or previous.candidate_id is None:
        return None, ""
    verdict, cid = previous.verdict, previous.candidate_id
    failed = set(failed_guards(verdict))
    delta = verdict.get("accuracy_delta")
    whose = f"run {previous.run_id}'s candidate {cid}"
    if verdict.get("promotable") or not failed:
        return None, ""
    if not failed <= UNPROVEN_GUARDS or delta is None or delta <= 0:
        return None, ""
    if previous.candidate_status != "candidate" or not previous.candidate_path:
        return None, f"{whose} is {previous.candidate_status or 'gone'}: starting from live"
    if live_id not in previous.candidate_lineage:
        return None, f"{whose} does not descend from live {live_id}: starting from live"
    guards = {g.get("guard"): g for g in verdict.get("guards") or []}
    rise = (guards.get("perplexity") or {}).get("value")
    note = (f"continuing from {whose}: it gained {100 * delta:+.1f} points over live within every perplexity "
            f"guard, refused only by {' and '.join(sorted(failed)).replace('accuracy_margin', 'the margin')}")
    return StartPoint(cid, previous.candidate_path, note, float(delta),
                      None if rise is None else 1.0 + float(rise)), note
