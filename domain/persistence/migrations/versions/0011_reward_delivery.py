"""reward delivery: a coupon reward's value and validity, a data-pack reward's product, the
coupons customers redeemed, the redeemed coupon an order is priced with, and the order that
tops up a redeemed data pack

Revision ID: 0011_reward_delivery
Revises: 0010_outcome_claims
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_reward_delivery"
down_revision = "0010_outcome_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_fen", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("valid_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("product_code", sa.String(length=32), nullable=True))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reward_coupon_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_redemptions_order_id_orders"), "orders", ["order_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_redemptions_order_id"), ["order_id"], unique=False)
    op.create_table(
        "reward_coupons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("redemption_key", sa.String(length=64), nullable=False),
        sa.Column("reward_code", sa.String(length=48), nullable=False),
        sa.Column("name_zh", sa.String(length=128), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("value_fen", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_reward_coupons_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_reward_coupons_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_coupons")),
        sa.UniqueConstraint("redemption_key", name=op.f("uq_reward_coupons_redemption_key")),
    )
    with op.batch_alter_table("reward_coupons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reward_coupons_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reward_coupons_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reward_coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_coupons_order_id"))
        batch_op.drop_index(batch_op.f("ix_reward_coupons_customer_id"))
    op.drop_table("reward_coupons")
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_redemptions_order_id"))
        batch_op.drop_constraint(batch_op.f("fk_redemptions_order_id_orders"), type_="foreignkey")
        batch_op.drop_column("order_id")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("reward_coupon_id")
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.drop_column("product_code")
        batch_op.drop_column("valid_days")
        batch_op.drop_column("value_fen")
