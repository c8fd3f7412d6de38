"""bundles: a data pack bought together with call credit in one order

Revision ID: 0008_bundles
Revises: 0007_referrals
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_bundles"
down_revision = "0007_referrals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bundle_product_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("bundle_product_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("bundle_name_zh", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("bundle_name_en", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("bundle_price_fen", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_bundle_product_id_products"),
            "products",
            ["bundle_product_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_orders_bundle_product_id_products"), type_="foreignkey"
        )
        batch_op.drop_column("bundle_price_fen")
        batch_op.drop_column("bundle_name_en")
        batch_op.drop_column("bundle_name_zh")
        batch_op.drop_column("bundle_product_code")
        batch_op.drop_column("bundle_product_id")
