"""Promote and roll back checkpoints: one function each, used by the console, the operator API and the CLI.

They only write the Promotion row (with the evaluation at that time); the app's LiveModelSync switches
the served model. A candidate that failed its gate needs ``override=True``, which is recorded. The cycle's
automatic promotion (``training.auto_promote``) goes through the same ``feedback.registry.record_promotion``.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from feedback import registry
from feedback.db import run_in_transaction
from feedback.errors import InvalidInput
from feedback.registry import PromotionResult


def promote(db: Engine, checkpoint_id: str, *, by_user: str, override: bool = False) -> PromotionResult:
    """Make a candidate live (its stored evaluation is copied into the audit row)."""

    def work(s):  # noqa: ANN001, ANN202
        target = registry.get_checkpoint(session=s, checkpoint_id=checkpoint_id)
        if target is None:
            raise InvalidInput(f"No checkpoint {checkpoint_id!r}.")
        p = registry.record_promotion(session=s, to_id=checkpoint_id, by_user=by_user, action="promote",
                                   evaluation=target.metrics, override=override)
        return PromotionResult.of(p)

    return run_in_transaction(db, work)


def rollback(db: Engine, *, by_user: str) -> PromotionResult:
    """Return to the previous live checkpoint (the current one is marked rejected)."""

    def work(s):  # noqa: ANN001, ANN202
        previous = registry.previous_live_checkpoint(session=s)
        if previous is None:
            raise InvalidInput("There is no earlier live checkpoint to roll back to.")
        p = registry.record_promotion(session=s, to_id=previous.id, by_user=by_user, action="rollback",
                                   evaluation=previous.metrics)
        return PromotionResult.of(p)

    return run_in_transaction(db, work)


__all__ = ["PromotionResult", "promote", "rollback"]
