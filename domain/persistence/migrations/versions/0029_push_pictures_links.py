"""campaign pushes: a picture (Telegram's file id) and buttons as deep links

Revision ID: 0029_push_pictures_links
Revises: 0028_reminder_pressed
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029_push_pictures_links"
down_revision = "0028_reminder_pressed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("photo", sa.String(length=256), nullable=True))
        batch_op.add_column(
            sa.Column("links", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("links")
        batch_op.drop_column("photo")
