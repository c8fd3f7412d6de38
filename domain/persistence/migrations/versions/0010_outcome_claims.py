"""outcome claims: an order's outcome is marked told only once delivered; while it is being
sent, it is claimed until a deadline

Revision ID: 0010_outcome_claims
Revises: 0009_allowances
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_outcome_claims"
down_revision = "0009_allowances"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome_claimed_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("outcome_claimed_until")
