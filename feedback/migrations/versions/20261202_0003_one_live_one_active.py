"""One live checkpoint per family, one queued and one running training run, enforced by partial unique indexes.

Two promotions racing on PostgreSQL could leave two live checkpoints (each locked only the rows it saw), and
two cycles starting together could both pass the run guard. Existing duplicates are repaired first: the
checkpoint the latest promotion made live stays live (others become ``retired``), the newest active run stays
(others are failed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 18:00:00+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LIVE_FAMILIES_SQL = {"policy": "status = 'live' AND kind IN ('base', 'rft', 'dpo')",
                     "critic": "status = 'live' AND kind = 'critic'",
                     "verifier": "status = 'live' AND kind = 'verifier'"}


def _repair_duplicates(connection: sa.Connection) -> None:
    for where in LIVE_FAMILIES_SQL.values():
        ids = connection.execute(sa.text(f"SELECT id FROM checkpoints WHERE {where} ORDER BY created_at")).scalars().all()
        if len(ids) < 2:
            continue
        latest = connection.execute(sa.text("SELECT to_id FROM promotions ORDER BY id DESC")).scalars().all()
        keep = next((to_id for to_id in latest if to_id in ids), ids[-1])
        for checkpoint_id in ids:
            if checkpoint_id != keep:
                connection.execute(sa.text("UPDATE checkpoints SET status = 'retired' WHERE id = :id"),
                                   {"id": checkpoint_id})
    for status in ("queued", "running"):
        runs = connection.execute(sa.text("SELECT id FROM training_runs WHERE status = :s ORDER BY id DESC"),
                                  {"s": status}).scalars().all()
        for run_id in runs[1:]:
            connection.execute(sa.text("UPDATE training_runs SET status = 'failed', error = :e WHERE id = :id"),
                               {"id": run_id, "e": f"superseded: only one run may be {status} (migration 0003)"})


def upgrade() -> None:
    """Upgrade schema."""
    _repair_duplicates(op.get_bind())
    for family, where in LIVE_FAMILIES_SQL.items():
        op.create_index(f"uq_checkpoints_one_live_{family}", "checkpoints", ["status"], unique=True,
                        sqlite_where=sa.text(where), postgresql_where=sa.text(where))
    for status in ("queued", "running"):
        where = sa.text(f"status = '{status}'")
        op.create_index(f"uq_training_runs_one_{status}", "training_runs", ["status"], unique=True,
                        sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    """Downgrade schema."""
    for status in ("queued", "running"):
        op.drop_index(f"uq_training_runs_one_{status}", table_name="training_runs")
    for family in LIVE_FAMILIES_SQL:
        op.drop_index(f"uq_checkpoints_one_live_{family}", table_name="checkpoints")
