"""risk cases: a risk rule that fired for a customer (the order it held, if any), and the
decision staff took on it (who and when)

Revision ID: 0015_risk_cases
Revises: 0014_broadcasts
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_risk_cases"
down_revision = "0014_broadcasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_sent", sa.Boolean(), nullable=False),
        sa.Column("customer_told", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_risk_cases_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_risk_cases_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_cases")),
    )
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_cases_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_risk_cases_order_id"), ["order_id"])
        batch_op.create_index(batch_op.f("ix_risk_cases_status"), ["status"])


def downgrade() -> None:
    op.drop_table("risk_cases")
