"""What the reminder outbox and the push outbox share: rows planned once (a unique key makes
the insert idempotent), claimed for sending until a deadline by one conditional update (two
senders never take the same row), settled once, or given back. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Selectable

from domain.persistence.broadcast_tables import BroadcastOutboxRow
from domain.persistence.core import insert_on_conflict
from domain.persistence.reminder_tables import ReminderOutboxRow

PLANNED, SENDING = "planned", "sending"

OutboxRow = TypeVar("OutboxRow", ReminderOutboxRow, BroadcastOutboxRow)


async def plan(
    session: AsyncSession, table: type[OutboxRow], columns: Sequence[str], rows: Selectable
) -> int:
    """Insert what `rows` selects into `columns`; a row its unique key already has is left as
    it is. The number inserted."""
    statement = (
        insert_on_conflict(session, table).from_select(list(columns), rows).on_conflict_do_nothing()
    )
    result = await session.execute(statement)
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def claim(
    session: AsyncSession,
    table: type[OutboxRow],
    condition: ColumnElement[bool],
    order: Sequence[Any],
    until: datetime,
    limit: int,
    *,
    status: str = SENDING,
    attempt: bool = True,
) -> list[OutboxRow]:
    """Take up to `limit` rows meeting `condition`, first by `order`, into `status` until
    `until` (counting an attempt when `attempt`); the rows taken."""
    values: dict[str, Any] = {"status": status, "claimed_until": until}
    if attempt:
        values["attempts"] = table.attempts + 1
    ids = select(table.id).where(condition).order_by(*order).limit(limit).scalar_subquery()
    result = await session.execute(
        update(table)
        .where(table.id.in_(ids), condition)
        .values(**values)
        .returning(table)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())


async def settle(
    session: AsyncSession,
    table: type[OutboxRow],
    outbox_id: int,
    status: str,
    at: datetime,
    *,
    reason: str | None = None,
    message_id: int | None = None,
) -> OutboxRow | None:
    """sending -> sent / failed / skipped; the row, or None when it was not being sent."""
    result = await session.execute(
        update(table)
        .where(table.id == outbox_id, table.status == SENDING)
        .values(
            status=status,
            reason=reason[:200] if reason else None,
            message_id=message_id,
            settled_at=at,
            claimed_until=None,
        )
        .returning(table)
        .execution_options(synchronize_session=False)
    )
    return result.scalars().first()


async def release(
    session: AsyncSession,
    table: type[OutboxRow],
    ids: Iterable[int],
    *,
    claimed: str = SENDING,
    back_to: str = PLANNED,
) -> None:
    """Give claimed rows (`claimed`) back to `back_to`, their claim dropped."""
    wanted = list(ids)
    if wanted:
        await session.execute(
            update(table)
            .where(table.id.in_(wanted), table.status == claimed)
            .values(status=back_to, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
