"""customers' hold-out buckets kept, so the hold-out page groups customers in the database;
back-filled for the campaigns that have a hold-out group

Revision ID: 0035_holdout_buckets
Revises: 0034_distinct_customer_rollups
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.holdout_buckets import backfill_holdout_buckets

revision = "0035_holdout_buckets"
down_revision = "0034_distinct_customer_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holdout_buckets",
        sa.Column("campaign_code", sa.String(48), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_code", "customer_id", name=op.f("pk_holdout_buckets")),
    )
    backfill_holdout_buckets(op.get_bind())


def downgrade() -> None:
    op.drop_table("holdout_buckets")
