"""two-person rule for referral rewards: the first staff member who approved a large reward

Revision ID: 0024_referral_two_person
Revises: 0023_privacy_consents
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_referral_two_person"
down_revision = "0023_privacy_consents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_approver", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_column("first_approver")
