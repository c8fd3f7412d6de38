"""reminders record when the customer first pressed a button of theirs (the dashboard's "opened")

Revision ID: 0028_reminder_pressed
Revises: 0027_points_lapse_due
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028_reminder_pressed"
down_revision = "0027_points_lapse_due"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pressed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.drop_column("pressed_at")
