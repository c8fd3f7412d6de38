"""distinct customers without grouping by customer: each customer hour row linked to the
customer's hours before and after it, the customers' all-time rows, and the indexes of first
bindings; the roll-ups rebuilt from the orders

Revision ID: 0034_distinct_customer_rollups
Revises: 0033_offer_costs_daily_digest
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.rollups import backfill

revision = "0034_distinct_customer_rollups"
down_revision = "0033_offer_costs_daily_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recharge_customer_hours") as batch:
        batch.add_column(sa.Column("previous_hour", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_hour", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_recharge_customer_hours_period",
        "recharge_customer_hours",
        ["campaign_id", "hour"],
        postgresql_include=["previous_hour", "next_hour", "recharges"],
    )
    op.create_index(
        "ix_recharge_customer_hours_customer",
        "recharge_customer_hours",
        ["campaign_id", "customer_id", "hour"],
    )
    op.create_table(
        "recharge_customers",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("recharges", sa.Integer(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_recharge_customers")),
    )
    op.create_index("ix_phone_bindings_bound_at", "phone_bindings", ["bound_at"])
    op.create_index(
        "ix_phone_bindings_customer_bound_at", "phone_bindings", ["customer_id", "bound_at", "id"]
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_phone_bindings_customer_bound_at", table_name="phone_bindings")
    op.drop_index("ix_phone_bindings_bound_at", table_name="phone_bindings")
    op.drop_table("recharge_customers")
    op.drop_index("ix_recharge_customer_hours_customer", table_name="recharge_customer_hours")
    op.drop_index("ix_recharge_customer_hours_period", table_name="recharge_customer_hours")
    with op.batch_alter_table("recharge_customer_hours") as batch:
        batch.drop_column("next_hour")
        batch.drop_column("previous_hour")
