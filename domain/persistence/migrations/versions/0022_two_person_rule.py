"""two-person rule: the first staff member who approved a large release of a held order

Revision ID: 0022_two_person_rule
Revises: 0021_dashboard_indexes
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_two_person_rule"
down_revision = "0021_dashboard_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_approver", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("first_approver_name", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.drop_column("first_approver_name")
        batch_op.drop_column("first_approver")
