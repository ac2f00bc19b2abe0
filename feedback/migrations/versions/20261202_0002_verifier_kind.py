"""Verifier checkpoints and datasets: 'verifier' joins the allowed checkpoint and dataset kinds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 17:00:00+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_OLD = {"checkpoints": "kind IN ('base', 'rft', 'dpo', 'critic')",
        "datasets": "kind IN ('rft', 'dpo', 'sft', 'kto', 'critic', 'general')"}
_NEW = {"checkpoints": "kind IN ('base', 'rft', 'dpo', 'critic', 'verifier')",
        "datasets": "kind IN ('rft', 'dpo', 'sft', 'kto', 'critic', 'general', 'verifier')"}


def _replace(table: str, condition: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_kind"), condition)


def upgrade() -> None:
    """Upgrade schema."""
    for table, condition in _NEW.items():
        _replace(table, condition)


def downgrade() -> None:
    """Downgrade schema (verifier rows are deleted: the old constraint forbids them)."""
    op.execute(sa.text("UPDATE training_runs SET candidate_checkpoint_id = NULL WHERE candidate_checkpoint_id IN "
                       "(SELECT id FROM checkpoints WHERE kind = 'verifier')"))
    op.execute(sa.text("DELETE FROM checkpoints WHERE kind = 'verifier'"))
    op.execute(sa.text("DELETE FROM datasets WHERE kind = 'verifier'"))
    for table, condition in _OLD.items():
        _replace(table, condition)
