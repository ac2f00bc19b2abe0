"""promotions.automatic: a promotion the loop made itself (``training.auto_promote``), not an operator.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:00:00+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema. Earlier rows read false, the verifier stage's ``by_user="training"`` ones included: who made
    them is still in ``by_user``, and guessing from a name is not worth a data migration."""
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.drop_column("automatic")
