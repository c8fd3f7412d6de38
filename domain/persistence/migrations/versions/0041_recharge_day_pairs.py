"""the products of each customer's ¥ on two days, summed over customers, so that the hold-out
page reads the Σ of every customer's ¥ squared over a period's whole days from a few pairs a
day; an index of the hold-out buckets by bucket, for the control group's customers, and the
customer hour rows' index by customer with their fen; back-filled from the customer day rows

Revision ID: 0041_recharge_day_pairs
Revises: 0040_recharge_day_cells
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.day_pairs import backfill_pairs

revision = "0041_recharge_day_pairs"
down_revision = "0040_recharge_day_cells"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recharge_day_pairs",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("later_day", sa.Integer(), nullable=False),
        sa.Column("fen_product", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "later_day", name=op.f("pk_recharge_day_pairs")),
    )
    op.create_index(
        "ix_holdout_buckets_bucket", "holdout_buckets", ["campaign_code", "bucket", "customer_id"]
    )
    # A customer's fen over a few hours or days read from the index alone (PostgreSQL).
    op.drop_index("ix_recharge_customer_hours_customer", table_name="recharge_customer_hours")
    _customer_hours_index(["fen"])
    backfill_pairs(op.get_bind())


def _customer_hours_index(include: list[str]) -> None:
    op.create_index(
        "ix_recharge_customer_hours_customer",
        "recharge_customer_hours",
        ["campaign_id", "customer_id", "hour"],
        postgresql_include=include,
    )


def downgrade() -> None:
    op.drop_index("ix_recharge_customer_hours_customer", table_name="recharge_customer_hours")
    _customer_hours_index([])
    op.drop_index("ix_holdout_buckets_bucket", table_name="holdout_buckets")
    op.drop_table("recharge_day_pairs")
