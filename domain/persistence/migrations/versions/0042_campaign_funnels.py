"""each customer's funnel in each campaign (its recharge orders that took the campaign's offers,
paid and completed) by when the customer started, so the funnel of one campaign does not read
the orders of a period's starters; a claim of an order's offer made, released or forgotten noted
by the database for the fold (it changes the campaigns the order is in), as the orders' changes
are; back-filled from the orders, claims and payments

Revision ID: 0042_campaign_funnels
Revises: 0041_recharge_day_pairs
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.campaign_funnels import backfill_campaign_funnels

revision = "0042_campaign_funnels"
down_revision = "0041_recharge_day_pairs"
branch_labels = None
depends_on = None

# A claim counts (its order is in the campaign) while held or granted.
_COUNTS = "IN ('held', 'granted')"
_NOTE = "INSERT INTO rollup_changes (order_id, kind) VALUES"

SQLITE = [
    f"""CREATE TRIGGER offer_claims_rollup_made AFTER INSERT ON offer_claims FOR EACH ROW
    WHEN NEW.status {_COUNTS}
    BEGIN
        {_NOTE} (NEW.order_id, 'claim_changed');
    END""",
    f"""CREATE TRIGGER offer_claims_rollup_settled AFTER UPDATE OF status ON offer_claims
    FOR EACH ROW WHEN (OLD.status {_COUNTS}) IS NOT (NEW.status {_COUNTS})
    BEGIN
        {_NOTE} (NEW.order_id, 'claim_changed');
    END""",
    f"""CREATE TRIGGER offer_claims_rollup_forgotten AFTER DELETE ON offer_claims FOR EACH ROW
    WHEN OLD.status {_COUNTS}
    BEGIN
        {_NOTE} (OLD.order_id, 'claim_changed');
    END""",
]
POSTGRESQL = [
    f"""CREATE FUNCTION note_claim_rollup_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            {_NOTE} (OLD.order_id, 'claim_changed');
        ELSE
            {_NOTE} (NEW.order_id, 'claim_changed');
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER offer_claims_rollup_made AFTER INSERT ON offer_claims
    FOR EACH ROW WHEN (NEW.status {_COUNTS})
    EXECUTE FUNCTION note_claim_rollup_change()""",
    f"""CREATE TRIGGER offer_claims_rollup_settled AFTER UPDATE OF status ON offer_claims
    FOR EACH ROW WHEN ((OLD.status {_COUNTS}) IS DISTINCT FROM (NEW.status {_COUNTS}))
    EXECUTE FUNCTION note_claim_rollup_change()""",
    f"""CREATE TRIGGER offer_claims_rollup_forgotten AFTER DELETE ON offer_claims
    FOR EACH ROW WHEN (OLD.status {_COUNTS})
    EXECUTE FUNCTION note_claim_rollup_change()""",
]
_TRIGGERS = [
    "offer_claims_rollup_made",
    "offer_claims_rollup_settled",
    "offer_claims_rollup_forgotten",
]


def upgrade() -> None:
    op.create_table(
        "campaign_funnels",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recharge_orders", sa.Integer(), nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "campaign_id", name=op.f("pk_campaign_funnels")),
    )
    op.create_index(
        "ix_campaign_funnels_started",
        "campaign_funnels",
        ["campaign_id", "registered_at"],
        postgresql_include=["paid_orders", "completed"],
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)
    backfill_campaign_funnels(op.get_bind())


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON offer_claims" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS note_claim_rollup_change()")
    # The claims' changes noted but not folded yet say nothing to the revision before.
    op.execute("DELETE FROM rollup_changes WHERE kind = 'claim_changed'")
    op.drop_index("ix_campaign_funnels_started", table_name="campaign_funnels")
    op.drop_table("campaign_funnels")
