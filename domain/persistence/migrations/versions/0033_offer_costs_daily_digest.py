"""what each offer claim cost by kind (red packet, bonus points, discount beside the wallet
money it returns), and the staff chat's daily digest sent once a day

Claims made before this revision are back-filled with what can be known from their offer: the
wallet money of a red-packet, first-recharge or denomination offer is a red packet; a
first-recharge offer's bonus points and a coupon's or bundle's discount are the offer's own
(as it is now). A points multiplier's extra points of earlier claims are not known (0).

Revision ID: 0033_offer_costs_daily_digest
Revises: 0031_refund_claims
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033_offer_costs_daily_digest"
down_revision = "0031_refund_claims"
branch_labels = None
depends_on = None

RED_PACKET_KINDS = ("threshold_red_packet", "first_recharge_bonus", "denomination_bonus")


def upgrade() -> None:
    with op.batch_alter_table("offer_claims") as batch:
        for name in ("red_packet_fen", "bonus_points", "discount_fen"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    claims = sa.table(
        "offer_claims",
        sa.column("offer_id", sa.Integer()),
        sa.column("cashback_fen", sa.Integer()),
        sa.column("red_packet_fen", sa.Integer()),
        sa.column("bonus_points", sa.Integer()),
        sa.column("discount_fen", sa.Integer()),
    )
    offers = sa.table(
        "offers",
        sa.column("id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("params", sa.JSON()),
    )
    connection = op.get_bind()
    connection.execute(
        claims.update()
        .where(
            claims.c.offer_id.in_(sa.select(offers.c.id).where(offers.c.kind.in_(RED_PACKET_KINDS)))
        )
        .values(red_packet_fen=claims.c.cashback_fen)
    )
    rows = connection.execute(
        sa.select(offers.c.id, offers.c.kind, offers.c.params).where(
            offers.c.kind.in_(("first_recharge_bonus", "coupon", "bundle"))
        )
    )
    for offer_id, kind, params in rows.all():
        params = params or {}
        if kind == "first_recharge_bonus" and int(params.get("bonus_points") or 0) > 0:
            values = {"bonus_points": int(params["bonus_points"])}
        elif kind != "first_recharge_bonus" and int(params.get("discount") or 0) > 0:
            values = {"discount_fen": int(params["discount"])}
        else:
            continue
        connection.execute(claims.update().where(claims.c.offer_id == offer_id).values(values))

    op.create_table(
        "staff_digests",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_staff_digests")),
    )


def downgrade() -> None:
    op.drop_table("staff_digests")
    with op.batch_alter_table("offer_claims") as batch:
        for name in ("discount_fen", "bonus_points", "red_packet_fen"):
            batch.drop_column(name)
