"""each customer's funnel (recharge orders, paid, completed) by when the customer started, so
the funnel of every campaign does not read every order of a period's starters; back-filled from
the orders and payments; offers seen indexed by customer

Revision ID: 0036_customer_funnels
Revises: 0035_holdout_buckets
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.rollups import backfill_funnels

revision = "0036_customer_funnels"
down_revision = "0035_holdout_buckets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_funnels",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recharge_orders", sa.Integer(), nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_funnels")),
    )
    op.create_index(
        "ix_customer_funnels_registered_at",
        "customer_funnels",
        ["registered_at"],
        postgresql_include=["recharge_orders", "paid_orders", "completed"],
    )
    op.create_index("ix_offers_seen_customer_id", "offers_seen", ["customer_id"])
    backfill_funnels(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_offers_seen_customer_id", table_name="offers_seen")
    op.drop_index("ix_customer_funnels_registered_at", table_name="customer_funnels")
    op.drop_table("customer_funnels")
