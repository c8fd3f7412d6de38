"""each customer's completed recharges by UTC day, linked to its days before and after, and
the day cells counted from them (customers by day, previous day and next day, and those of one
recharge that day), so that a period's distinct paying and repeat customers are read from a
few cells a day; back-filled from the customer hour rows

Revision ID: 0040_recharge_day_cells
Revises: 0039_offer_slot_shards
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.day_rollups import backfill_days

revision = "0040_recharge_day_cells"
down_revision = "0039_offer_slot_shards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recharge_customer_days",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("recharges", sa.Integer(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.Column("previous_day", sa.Integer(), nullable=False),
        sa.Column("next_day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "customer_id", "day", name=op.f("pk_recharge_customer_days")
        ),
    )
    op.create_table(
        "recharge_day_cells",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("previous_day", sa.Integer(), nullable=False),
        sa.Column("next_day", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("single", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "day", "previous_day", "next_day", name=op.f("pk_recharge_day_cells")
        ),
    )
    backfill_days(op.get_bind())


def downgrade() -> None:
    op.drop_table("recharge_day_cells")
    op.drop_table("recharge_customer_days")
