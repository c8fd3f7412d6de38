"""What erasing a customer's personal data does beyond their own rows: every place that keeps
the chat the bot talks to them in (in a private chat, that chat's id is their Telegram id)."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.persistence.broadcast_tables import BroadcastOutboxRow, SurveyAnswerRow
from domain.persistence.pin_tables import CustomerPinRow
from domain.persistence.reminder_repositories import PLANNED, SKIPPED
from domain.persistence.reminder_tables import ReminderOutboxRow, ReminderSubscriptionRow
from domain.persistence.tables import OrderRow
from domain.tickets import ERASED_TEXT

# Where an erased customer's chat was: no chat has this id.
NO_CHAT = 0
ERASED_REASON = "customer erased their data"


class PrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def forget_chats(self, customer_id: int) -> None:
        """Orders keep no chat (their outcome is told to nobody), reminder subscriptions go,
        reminders and pushes not sent yet are skipped, and the record of those sent keeps no
        chat."""
        await self._session.execute(
            update(OrderRow)
            .where(OrderRow.customer_id == customer_id, OrderRow.chat_id.is_not(None))
            .values(chat_id=None)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            delete(ReminderSubscriptionRow)
            .where(ReminderSubscriptionRow.customer_id == customer_id)
            .execution_options(synchronize_session=False)
        )
        outbox = ReminderOutboxRow
        await self._session.execute(
            update(outbox)
            .where(outbox.customer_id == customer_id, outbox.status == PLANNED)
            .values(status=SKIPPED, reason=ERASED_REASON)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(outbox)
            .where(outbox.customer_id == customer_id)
            .values(chat_id=NO_CHAT)
            .execution_options(synchronize_session=False)
        )
        pushes = BroadcastOutboxRow
        await self._session.execute(
            update(pushes)
            .where(pushes.customer_id == customer_id, pushes.status == PLANNED)
            .values(status=SKIPPED, reason="erased")
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(pushes)
            .where(pushes.customer_id == customer_id)
            .values(chat_id=NO_CHAT)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(SurveyAnswerRow)
            .where(SurveyAnswerRow.customer_id == customer_id, SurveyAnswerRow.comment.is_not(None))
            .values(comment=ERASED_TEXT)
            .execution_options(synchronize_session=False)
        )

    async def forget_secrets(self, customer_id: int) -> None:
        await self._session.execute(
            delete(CustomerPinRow).where(CustomerPinRow.customer_id == customer_id)
        )
