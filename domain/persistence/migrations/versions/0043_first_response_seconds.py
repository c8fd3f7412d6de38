"""each ticket's wait for staff's first response in whole seconds, so that the wait a customer is
told to expect is one average taken by the database, not a month of tickets read into the bot;
back-filled from the tickets answered already

Revision ID: 0043_first_response_seconds
Revises: 0042_campaign_funnels
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from domain.persistence.tables import UtcDateTime

revision = "0043_first_response_seconds"
down_revision = "0042_campaign_funnels"
branch_labels = None
depends_on = None

_TICKETS = sa.table(
    "tickets",
    sa.column("id", sa.Integer()),
    sa.column("created_at", UtcDateTime()),
    sa.column("first_response_at", UtcDateTime()),
    sa.column("first_response_seconds", sa.Integer()),
)
_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("first_response_seconds", sa.Integer(), nullable=True))
    connection = op.get_bind()
    answered = connection.execute(
        sa.select(_TICKETS.c.id, _TICKETS.c.created_at, _TICKETS.c.first_response_at).where(
            _TICKETS.c.first_response_at.is_not(None)
        )
    ).all()
    waits = [
        {"ticket_id": row.id, "seconds": max(0, round((row[2] - row[1]).total_seconds()))}
        for row in answered
    ]
    statement = (
        sa.update(_TICKETS)
        .where(_TICKETS.c.id == sa.bindparam("ticket_id"))
        .values(first_response_seconds=sa.bindparam("seconds"))
    )
    for start in range(0, len(waits), _BATCH):
        connection.execute(statement, waits[start : start + _BATCH])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("first_response_seconds")
