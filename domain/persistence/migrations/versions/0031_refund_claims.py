"""a refund's claim: when a refund through the payment provider was taken on, so that of refunds
at once one asks the provider, and one cut short is taken on again after a while

Revision ID: 0031_refund_claims
Revises: 0032_paid_pushes_time_zones
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031_refund_claims"
down_revision = "0032_paid_pushes_time_zones"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("refund_claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("refund_claimed_at")
