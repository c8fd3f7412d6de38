"""Read-only queries behind the dashboard's reminders and pushes page: each message sent in a
period, whether a button on it was pressed, and the customer's first recharge after it (the
same look-up as a broadcast's report)."""

from __future__ import annotations

from sqlalchemy import select

from domain.figures import Period, SentMessage
from domain.persistence.broadcast_repositories import DELIVERED, first_recharge_since
from domain.persistence.broadcast_tables import BroadcastOutboxRow, BroadcastRow
from domain.persistence.core import Repository
from domain.persistence.reminder_tables import ReminderOutboxRow

REMINDER_SENT = "sent"


class PushFigureQueries(Repository):
    async def reminders_sent(self, period: Period, campaign_id: int | None) -> list[SentMessage]:
        row = ReminderOutboxRow
        statement = select(
            row.campaign_id,
            row.pressed_at.is_not(None),
            row.settled_at,
            first_recharge_since(row.customer_id, row.settled_at),
        ).where(
            row.status == REMINDER_SENT,
            row.settled_at >= period.start,
            row.settled_at < period.end,
        )
        if campaign_id is not None:
            statement = statement.where(row.campaign_id == campaign_id)
        result = await self._session.execute(statement)
        return [(int(c), int(c), bool(p), at, first) for c, p, at, first in result.all()]

    async def broadcasts_sent(self, period: Period, campaign_id: int | None) -> list[SentMessage]:
        row = BroadcastOutboxRow
        statement = (
            select(
                row.broadcast_id,
                BroadcastRow.campaign_id,
                row.pressed_at.is_not(None),
                row.settled_at,
                first_recharge_since(row.customer_id, row.settled_at),
            )
            .join(BroadcastRow, BroadcastRow.id == row.broadcast_id)
            .where(
                row.status.in_(DELIVERED),
                row.settled_at >= period.start,
                row.settled_at < period.end,
            )
        )
        if campaign_id is not None:
            statement = statement.where(BroadcastRow.campaign_id == campaign_id)
        result = await self._session.execute(statement)
        return [(int(b), c, bool(p), at, first) for b, c, p, at, first in result.all()]

    async def broadcast_texts(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        result = await self._session.execute(
            select(BroadcastRow.id, BroadcastRow.text_zh, BroadcastRow.text_en).where(
                BroadcastRow.id.in_(ids)
            )
        )
        return {int(i): (zh, en) for i, zh, en in result.all()}
