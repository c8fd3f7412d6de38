"""the funnel's "saw offers" step: when a customer first saw a campaign's offers

Revision ID: 0030_offers_seen
Revises: 0029_push_pictures_links
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030_offers_seen"
down_revision = "0029_push_pictures_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offers_seen",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_offers_seen")),
    )


def downgrade() -> None:
    op.drop_table("offers_seen")
