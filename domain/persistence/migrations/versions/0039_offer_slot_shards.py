"""an offer's slots and budget counted in shards (`offer_slots`), so that claims of one offer at
once do not all wait for its one row: the counts kept on the offer move to its shard 0, with
every shard's share of the quota and budget; the offer's own columns are renamed and zeroed

Revision ID: 0039_offer_slot_shards
Revises: 0038_rollup_changes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.offer_slots import OFFER_SLOT_SHARDS, shares

revision = "0039_offer_slot_shards"
down_revision = "0038_rollup_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offer_slots",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("budget_fen", sa.Integer(), nullable=True),
        sa.Column("spent_fen", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "quota IS NULL OR used <= quota", name=op.f("ck_offer_slots_share_not_exceeded")
        ),
        sa.CheckConstraint(
            "budget_fen IS NULL OR spent_fen <= budget_fen",
            name=op.f("ck_offer_slots_budget_share_kept"),
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_offer_slots_offer_id_offers")
        ),
        sa.PrimaryKeyConstraint("offer_id", "shard", name=op.f("pk_offer_slots")),
    )
    # The same statements on both databases (SQLite rewrites the CHECK constraints naming them).
    op.execute("ALTER TABLE offers RENAME COLUMN used TO used_unsharded")
    op.execute("ALTER TABLE offers RENAME COLUMN spent_fen TO spent_fen_unsharded")
    bind = op.get_bind()
    offers = bind.execute(
        sa.text("SELECT id, quota, budget_fen, used_unsharded, spent_fen_unsharded FROM offers")
    ).all()
    rows = []
    for offer in offers:
        used = [offer.used_unsharded] + [0] * (OFFER_SLOT_SHARDS - 1)
        spent = [offer.spent_fen_unsharded] + [0] * (OFFER_SLOT_SHARDS - 1)
        for shard, (share, budget) in enumerate(shares(offer.quota, offer.budget_fen, used, spent)):
            rows.append(
                {
                    "offer_id": offer.id,
                    "shard": shard,
                    "quota": share,
                    "used": used[shard],
                    "budget_fen": budget,
                    "spent_fen": spent[shard],
                }
            )
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO offer_slots (offer_id, shard, quota, used, budget_fen, spent_fen)"
                " VALUES (:offer_id, :shard, :quota, :used, :budget_fen, :spent_fen)"
            ),
            rows,
        )
    op.execute("UPDATE offers SET used_unsharded = 0, spent_fen_unsharded = 0")


def downgrade() -> None:
    op.execute("ALTER TABLE offers RENAME COLUMN used_unsharded TO used")
    op.execute("ALTER TABLE offers RENAME COLUMN spent_fen_unsharded TO spent_fen")
    op.execute(
        "UPDATE offers SET"
        " used = (SELECT coalesce(sum(s.used), 0) FROM offer_slots s WHERE s.offer_id = offers.id),"
        " spent_fen = (SELECT coalesce(sum(s.spent_fen), 0) FROM offer_slots s"
        " WHERE s.offer_id = offers.id)"
    )
    op.drop_table("offer_slots")
