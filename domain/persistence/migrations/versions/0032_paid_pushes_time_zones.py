"""urgent (paid) pushes, and each customer's own time zone for pushes at a local time

Revision ID: 0032_paid_pushes_time_zones
Revises: 0030_offers_seen
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032_paid_pushes_time_zones"
down_revision = "0030_offers_seen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("local_time", sa.String(length=16), nullable=True))
    with op.batch_alter_table("broadcast_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("timezone")
    with op.batch_alter_table("broadcast_outbox", schema=None) as batch_op:
        batch_op.drop_column("send_at")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("local_time")
        batch_op.drop_column("urgent")
