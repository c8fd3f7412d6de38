"""dashboard roll-ups: completed recharges by campaign and hour, and by customer, back-filled

Revision ID: 0026_dashboard_rollups
Revises: 0025_number_allowances
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.rollups import backfill

revision = "0026_dashboard_rollups"
down_revision = "0025_number_allowances"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recharge_hours",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recharges", sa.Integer(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "hour", name=op.f("pk_recharge_hours")),
    )
    op.create_table(
        "recharge_customer_hours",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("recharges", sa.Integer(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "hour", "customer_id", name=op.f("pk_recharge_customer_hours")
        ),
    )
    backfill(op.get_bind(), linked=False)


def downgrade() -> None:
    op.drop_table("recharge_customer_hours")
    op.drop_table("recharge_hours")
