"""dashboard indexes: completed recharges by completion time, customers by first and last visit

Revision ID: 0021_dashboard_indexes
Revises: 0020_payment_pins
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_dashboard_indexes"
down_revision = "0020_payment_pins"
branch_labels = None
depends_on = None

COMPLETED_RECHARGE = sa.text("status = 'completed' AND purpose = 'recharge'")


def upgrade() -> None:
    op.create_index(
        "ix_orders_completed_recharges",
        "orders",
        ["completed_at", "customer_id", "amount_fen"],
        postgresql_where=COMPLETED_RECHARGE,
        sqlite_where=COMPLETED_RECHARGE,
    )
    op.create_index("ix_customers_last_seen_at", "customers", ["last_seen_at"])
    op.create_index("ix_customers_registered_at", "customers", ["registered_at"])


def downgrade() -> None:
    op.drop_index("ix_customers_registered_at", table_name="customers")
    op.drop_index("ix_customers_last_seen_at", table_name="customers")
    op.drop_index("ix_orders_completed_recharges", table_name="orders")
