"""order history written by the database: every new order and every change of an order's status
adds its history row in the same statement, with the cause the change gave (orders.last_cause)

Revision ID: 0012_order_history
Revises: 0011_reward_delivery
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_order_history"
down_revision = "0011_reward_delivery"
branch_labels = None
depends_on = None

_COLUMNS = "order_id, from_status, to_status, cause, at"

SQLITE = [
    f"""CREATE TRIGGER orders_created AFTER INSERT ON orders FOR EACH ROW
    BEGIN
        INSERT INTO order_events ({_COLUMNS})
        VALUES (NEW.id, NULL, NEW.status, COALESCE(NEW.last_cause, ''), NEW.created_at);
    END""",
    f"""CREATE TRIGGER orders_moved AFTER UPDATE OF status ON orders FOR EACH ROW
    WHEN NEW.status IS NOT OLD.status
    BEGIN
        INSERT INTO order_events ({_COLUMNS})
        VALUES (NEW.id, OLD.status, NEW.status, COALESCE(NEW.last_cause, ''), NEW.updated_at);
    END""",
]
POSTGRESQL = [
    f"""CREATE FUNCTION record_order_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO order_events ({_COLUMNS})
            VALUES (NEW.id, NULL, NEW.status, COALESCE(NEW.last_cause, ''), NEW.created_at);
        ELSE
            INSERT INTO order_events ({_COLUMNS})
            VALUES (NEW.id, OLD.status, NEW.status, COALESCE(NEW.last_cause, ''), NEW.updated_at);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER orders_created AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION record_order_event()""",
    """CREATE TRIGGER orders_moved AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION record_order_event()""",
]


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_cause", sa.String(length=64), nullable=True))
    statements = POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS orders_moved" + _on_orders())
    op.execute("DROP TRIGGER IF EXISTS orders_created" + _on_orders())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS record_order_event()")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("last_cause")


def _on_orders() -> str:
    return " ON orders" if op.get_bind().dialect.name == "postgresql" else ""
