"""points lapse due: when each customer's points next lapse, indexed, so the points sweep reads
only the customers it has something to do for

Revision ID: 0027_points_lapse_due
Revises: 0026_dashboard_rollups
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027_points_lapse_due"
down_revision = "0026_dashboard_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("points_balances") as table:
        table.add_column(sa.Column("next_lapse_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("lapse_warned_for", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_points_balances_next_lapse_at", "points_balances", ["next_lapse_at"])
    # The earliest lapse date of earned points not lapsed yet; never later than the true next
    # lapse (points spent since are found out by the first sweep, which moves it on).
    op.execute(
        """
        UPDATE points_balances SET next_lapse_at = (
            SELECT min(e.expires_at) FROM points_entries e
            WHERE e.customer_id = points_balances.customer_id
              AND e.points > 0 AND e.expires_at IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM points_entries x
                  WHERE x.idempotency_key = 'expire:' || e.id
              )
        )
        """
    )


def downgrade() -> None:
    op.drop_index("ix_points_balances_next_lapse_at", table_name="points_balances")
    with op.batch_alter_table("points_balances") as table:
        table.drop_column("lapse_warned_for")
        table.drop_column("next_lapse_at")
