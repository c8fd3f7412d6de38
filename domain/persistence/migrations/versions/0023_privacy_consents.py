"""privacy consents: the customer agreed to the privacy notice (before any phone number is kept),
with a separate, optional consent to marketing pushes

Revision ID: 0023_privacy_consents
Revises: 0022_two_person_rule
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_privacy_consents"
down_revision = "0022_two_person_rule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_consents",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_privacy_consents_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_privacy_consents")),
    )


def downgrade() -> None:
    op.drop_table("privacy_consents")
