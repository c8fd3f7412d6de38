"""the order changes the dashboard's roll-ups count (a recharge order made, a payment, a
recharge completed) noted by the database in the statement that makes them, and folded into the
roll-ups in batches, a few seconds later, instead of being written in each recharge's
transaction

The roll-ups are current at this revision (the code before it wrote them as orders changed), so
nothing is back-filled.

Revision ID: 0038_rollup_changes
Revises: 0037_recharge_hour_shards
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.rollups import backfill, backfill_funnels

revision = "0038_rollup_changes"
down_revision = "0037_recharge_hour_shards"
branch_labels = None
depends_on = None

_NOTE = "INSERT INTO rollup_changes (order_id, kind) VALUES"

SQLITE = [
    f"""CREATE TRIGGER orders_rollup_ordered AFTER INSERT ON orders FOR EACH ROW
    WHEN NEW.purpose = 'recharge'
    BEGIN
        {_NOTE} (NEW.id, 'ordered');
        INSERT INTO rollup_changes (order_id, kind)
        SELECT NEW.id, 'completed' WHERE NEW.status = 'completed';
    END""",
    f"""CREATE TRIGGER orders_rollup_completed AFTER UPDATE OF status ON orders FOR EACH ROW
    WHEN NEW.purpose = 'recharge' AND NEW.status = 'completed' AND OLD.status IS NOT 'completed'
    BEGIN
        {_NOTE} (NEW.id, 'completed');
    END""",
    f"""CREATE TRIGGER payments_rollup_paid AFTER INSERT ON payments FOR EACH ROW
    BEGIN
        {_NOTE} (NEW.order_id, 'paid');
    END""",
]
POSTGRESQL = [
    f"""CREATE FUNCTION note_order_rollup_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_NOTE} (NEW.id, TG_ARGV[0]);
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION note_payment_rollup_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_NOTE} (NEW.order_id, 'paid');
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER orders_rollup_ordered AFTER INSERT ON orders
    FOR EACH ROW WHEN (NEW.purpose = 'recharge')
    EXECUTE FUNCTION note_order_rollup_change('ordered')""",
    """CREATE TRIGGER orders_rollup_inserted_completed AFTER INSERT ON orders
    FOR EACH ROW WHEN (NEW.purpose = 'recharge' AND NEW.status = 'completed')
    EXECUTE FUNCTION note_order_rollup_change('completed')""",
    """CREATE TRIGGER orders_rollup_completed AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.purpose = 'recharge' AND NEW.status = 'completed'
        AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION note_order_rollup_change('completed')""",
    """CREATE TRIGGER payments_rollup_paid AFTER INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION note_payment_rollup_change()""",
]
_TRIGGERS = [
    ("orders_rollup_ordered", "orders"),
    ("orders_rollup_inserted_completed", "orders"),
    ("orders_rollup_completed", "orders"),
    ("payments_rollup_paid", "payments"),
]


def upgrade() -> None:
    op.create_table(
        "rollup_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("folding", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_changes")),
    )
    op.create_table(
        "rollup_folds",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("folds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_folds")),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS note_order_rollup_change()")
        op.execute("DROP FUNCTION IF EXISTS note_payment_rollup_change()")
    op.drop_table("rollup_folds")
    op.drop_table("rollup_changes")
    # The changes not folded yet are gone with their table: the roll-ups rebuilt from the
    # orders, as the code of the revision before keeps them.
    backfill(op.get_bind())
    backfill_funnels(op.get_bind())
