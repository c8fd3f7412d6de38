"""risk counts of phone numbers: the distinct accounts that recharged a number in a day

Revision ID: 0025_number_allowances
Revises: 0024_referral_two_person
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_number_allowances"
down_revision = "0024_referral_two_person"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "number_allowances",
        sa.Column("number_key", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number_key", "scope"),
    )


def downgrade() -> None:
    op.drop_table("number_allowances")
