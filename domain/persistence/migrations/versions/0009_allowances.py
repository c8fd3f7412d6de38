"""allowances: limits per customer taken by a conditional write (daily totals, offer and
reward uses), filled from what the orders, claims and redemptions already hold

Revision ID: 0009_allowances
Revises: 0008_bundles
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from domain.allowances import daily_scope, offer_scope, reward_scope
from domain.orders import COUNTS_TOWARDS_LIMIT

revision = "0009_allowances"
down_revision = "0008_bundles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    allowances = op.create_table(
        "customer_allowances",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_allowances_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", "scope", name=op.f("pk_customer_allowances")),
    )
    bind = op.get_bind()
    used: Counter[tuple[int, str]] = Counter()
    counting = [status.value for status in COUNTS_TOWARDS_LIMIT]
    since = datetime.now(UTC) - timedelta(days=2)
    orders = bind.execute(
        sa.text(
            "SELECT customer_id, purpose, amount_fen, created_at FROM orders "
            "WHERE created_at >= :since AND status IN :statuses"
        ).bindparams(sa.bindparam("statuses", expanding=True)),
        {"since": since, "statuses": counting},
    )
    for customer_id, purpose, amount_fen, created_at in orders:
        if isinstance(created_at, str):
            created_at = datetime.fromisoformat(created_at)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        used[customer_id, daily_scope(purpose, created_at)] += amount_fen
    claims = bind.execute(
        sa.text(
            "SELECT customer_id, offer_id, count(*) FROM offer_claims "
            "WHERE status IN ('held', 'granted') GROUP BY customer_id, offer_id"
        )
    )
    for customer_id, offer_id, count in claims:
        used[customer_id, offer_scope(offer_id)] += count
    redemptions = bind.execute(
        sa.text(
            "SELECT customer_id, reward_id, count(*) FROM redemptions "
            "GROUP BY customer_id, reward_id"
        )
    )
    for customer_id, reward_id, count in redemptions:
        used[customer_id, reward_scope(reward_id)] += count
    if used:
        op.bulk_insert(
            allowances,
            [
                {"customer_id": customer_id, "scope": scope, "used": amount}
                for (customer_id, scope), amount in used.items()
            ],
        )


def downgrade() -> None:
    op.drop_table("customer_allowances")
