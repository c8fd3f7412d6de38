"""chat updates: each webhook update of a chat is recorded when it arrives and marked done when
its turn is over, so several processes handle a chat's updates one at a time, in update-id order,
and a retried update is not worked twice

Revision ID: 0016_chat_updates
Revises: 0015_risk_cases
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_chat_updates"
down_revision = "0015_risk_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_updates",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_chat_updates_chat", "chat_updates", ["chat_id", "update_id"])
    op.create_index("ix_chat_updates_received", "chat_updates", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_chat_updates_received", table_name="chat_updates")
    op.drop_index("ix_chat_updates_chat", table_name="chat_updates")
    op.drop_table("chat_updates")
