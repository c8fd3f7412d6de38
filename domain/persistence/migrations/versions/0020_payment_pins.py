"""payment PINs: a slow salted hash per customer with its wrong tries and lock; bound numbers
say whether they were shared as the customer's own contact (verified) or typed

Revision ID: 0020_payment_pins
Revises: 0019_broadcast_variants
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_payment_pins"
down_revision = "0019_broadcast_variants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_pins",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("pin_hash", sa.String(length=160), nullable=False),
        sa.Column("wrong_tries", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_pins_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_pins")),
    )
    with op.batch_alter_table("phone_bindings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("phone_bindings", schema=None) as batch_op:
        batch_op.drop_column("verified")
    op.drop_table("customer_pins")
