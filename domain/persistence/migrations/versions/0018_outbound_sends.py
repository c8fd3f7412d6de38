"""outbound sends: the places taken by unasked messages, so that every process together keeps
Telegram's sending limits

Revision ID: 0018_outbound_sends
Revises: 0017_audit_log
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_outbound_sends"
down_revision = "0017_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_sends",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outbound_sends_at", "outbound_sends", ["at"])
    op.create_index("ix_outbound_sends_chat", "outbound_sends", ["chat_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_outbound_sends_chat", table_name="outbound_sends")
    op.drop_index("ix_outbound_sends_at", table_name="outbound_sends")
    op.drop_table("outbound_sends")
