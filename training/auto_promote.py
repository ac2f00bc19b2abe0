"""The cycle's last step with ``training.auto_promote``: a candidate that passed its gate goes live at once.

Off by default (``TrainingSettings.auto_promote``): an operator normally reads the gate before students see a
new model. On, the next cycle starts from this cycle's model. The promotion is an operator's promotion in
every way but who decided it: the same ``feedback.registry.record_promotion`` (the old live is retired, the
app's ``LiveModelSync`` switches the served model), its row marked ``automatic`` and never ``override``.

The gate compared the candidate with the checkpoint that was live when the cycle started, so a candidate is
not promoted when someone changed the live checkpoint meanwhile: its verdict says nothing about the new one.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Engine

from feedback import registry
from feedback.db import run_in_transaction, serialize_on

log = logging.getLogger(__name__)

AUTO_PROMOTER = "training"
"""The ``by_user`` of automatic promotions: the name the cycle's other machine-made audit rows carry."""
OFF = "auto_promote is off: an operator promotes"
NO_CANDIDATE = "no candidate this cycle"


@dataclass(frozen=True)
class AutoPromotion:
    """What the end of a cycle did about its candidate: promoted it, or why not."""

    promoted: bool
    reason: str
    candidate_id: str | None = None
    live_id: str | None = None
    """The live checkpoint when it was decided: the one retired by the promotion, or the one that stays live."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def refusal(*, status: str | None, gate_passed: bool | None, live_id: str | None, started_from: str) -> str | None:
    """Why a registered candidate may not be promoted automatically, or None when it may.

    ``status``/``gate_passed`` are the candidate's as stored now (None: not registered); ``live_id`` is the
    live checkpoint now and ``started_from`` the one the cycle evaluated the candidate against.

    >>> refusal(status="candidate", gate_passed=True, live_id="base", started_from="base") is None
    True
    >>> refusal(status="candidate", gate_passed=False, live_id="base", started_from="base")
    'gate failed: an operator may still promote it with override'
    >>> refusal(status="rejected", gate_passed=True, live_id="base", started_from="base")
    'the candidate is rejected now, not a candidate'
    >>> refusal(status="candidate", gate_passed=True, live_id="rft-9", started_from="base")
    "the live checkpoint changed during the cycle (base -> rft-9): the gate compared against 'base'"
    """
    if status is None:
        return "the candidate is not registered"
    if status != "candidate":
        return f"the candidate is {status} now, not a candidate"
    if gate_passed is not True:
        return "gate failed: an operator may still promote it with override"
    if live_id != started_from:
        return (f"the live checkpoint changed during the cycle ({started_from} -> {live_id or 'none'}): "
                f"the gate compared against {started_from!r}")
    return None


def promote_if_passed(db: Engine, candidate_id: str | None, *, enabled: bool, started_from: str) -> AutoPromotion:
    """Promote the cycle's candidate automatically when ``enabled`` and it passed its gate; say what happened.

    The check and the promotion are one transaction, serialized with every other promotion, so the live
    checkpoint the check saw is the one the promotion retires.
    """
    if not enabled:
        return AutoPromotion(False, OFF, candidate_id)
    if candidate_id is None:
        return AutoPromotion(False, NO_CANDIDATE)

    def work(session) -> AutoPromotion:  # noqa: ANN001
        serialize_on(session, "promotion")  # held to the end of the transaction; record_promotion takes it again
        target = registry.get_checkpoint(session=session, checkpoint_id=candidate_id)
        family = registry.family_of(target.kind) if target is not None else "policy"
        live = registry.get_live_checkpoint(session=session, family=family)
        live_id = live.id if live is not None else None
        why_not = refusal(status=target.status if target else None, gate_passed=target.gate_passed if target else None,
                          live_id=live_id, started_from=started_from)
        if why_not is not None:
            return AutoPromotion(False, why_not, candidate_id, live_id)
        promotion = registry.record_promotion(session=session, to_id=candidate_id, by_user=AUTO_PROMOTER,
                                              action="promote", evaluation=target.metrics, automatic=True)
        return AutoPromotion(True, "gate passed: promoted automatically", candidate_id, promotion.from_id)

    return run_in_transaction(db, work)


def auto_promote_step(db: Engine, candidate_id: str | None, started_from: str, enabled: bool, rec: Any) -> dict[str, Any]:
    """The cycle's last step: ``promote_if_passed``, recorded on the run (``rec``: its RunRecorder). If it fails,
    the candidate stands for an operator to promote."""
    try:
        outcome = promote_if_passed(db, candidate_id, enabled=enabled, started_from=started_from)
    except Exception as exc:  # noqa: BLE001 - the candidate is registered; promoting it is the operator's then
        log.exception("auto_promote failed")
        outcome = AutoPromotion(False, f"failed: {exc!r}; the candidate stands", candidate_id)
    rec.progress("auto_promote", force=True, status="promoted" if outcome.promoted else "not promoted",
                 **outcome.to_dict())
    rec.log(f"auto_promote: {candidate_id or '-'} {'promoted' if outcome.promoted else 'not promoted'}"
            f" ({outcome.reason})")
    return outcome.to_dict()
