"""the hours of completed recharges split in shards, so that recharges completing at once do
not all wait for one row: a completion adds to the row of its customer's shard, and the
dashboard adds the shards of an hour up

Rows kept before this revision are shard 0.

Revision ID: 0037_recharge_hour_shards
Revises: 0036_customer_funnels
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.rollups import backfill

revision = "0037_recharge_hour_shards"
down_revision = "0036_customer_funnels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recharge_hours") as batch:
        batch.add_column(sa.Column("shard", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("pk_recharge_hours", type_="primary")
        batch.create_primary_key("pk_recharge_hours", ["campaign_id", "hour", "shard"])


def downgrade() -> None:
    # One row an hour again: emptied, then rebuilt from the orders.
    op.execute(sa.text("DELETE FROM recharge_hours"))
    with op.batch_alter_table("recharge_hours") as batch:
        batch.drop_constraint("pk_recharge_hours", type_="primary")
        batch.create_primary_key("pk_recharge_hours", ["campaign_id", "hour"])
        batch.drop_column("shard")
    backfill(op.get_bind())
