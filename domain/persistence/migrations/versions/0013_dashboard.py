"""dashboard sign-in: single-use links and sessions, stored as hashes

Revision ID: 0013_dashboard
Revises: 0012_order_history
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_dashboard"
down_revision = "0012_order_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_tokens")),
    )
    op.create_index(
        "ix_dashboard_tokens_expires_at", "dashboard_tokens", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_tokens_expires_at", table_name="dashboard_tokens")
    op.drop_table("dashboard_tokens")
