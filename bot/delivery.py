"""What every front end does with an `Outcome`, in the same order, whatever its framework."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from handlers.contract import Delivery, DeliveryStatus, EventKind, Incoming, Outcome, Reply

# A flood-wait this short is waited out once for an answer; a longer one loses it (logged).
MAX_RETRY_AFTER_SECONDS = 5.0


class OutcomeSender(ABC):
    """A front end's sender: it only says how to make each Bot API call."""

    async def deliver(self, event: Incoming, outcome: Outcome) -> None:
        """Answer the pressed button or the payment question (always, first), then each reply."""
        if event.callback_id is not None:
            await self.answer_button(event.callback_id, outcome.notice)
        if event.kind is EventKind.PRE_CHECKOUT and event.payment is not None:
            await self.answer_pre_checkout(event.payment.query_id, outcome.pre_checkout_error)
        delivered = [await self.reply(event, reply) for reply in outcome.replies]
        if all(delivered):
            for then in outcome.after_delivery:
                await then()

    @abstractmethod
    async def answer_button(self, callback_id: str, notice: str | None) -> None: ...

    @abstractmethod
    async def answer_pre_checkout(self, query_id: str | None, error: str | None) -> None: ...

    async def reply(self, event: Incoming, reply: Reply) -> bool:
        """Edit the pressed button's message when asked and possible, else send anew; a short
        flood-wait (429) is waited out once. True when the reply reached the chat."""
        chat_id = reply.chat_id if reply.chat_id is not None else event.chat_id
        if reply.edit and event.message_id is not None and chat_id == event.chat_id:
            if await self._edit(chat_id, event.message_id, reply):
                return True
        delivery = await self.send(chat_id, reply)
        wait = delivery.retry_after
        if delivery.status is DeliveryStatus.RATE_LIMITED and wait is not None:
            if wait <= MAX_RETRY_AFTER_SECONDS:
                await asyncio.sleep(wait)
                delivery = await self.send(chat_id, reply)
        return bool(delivery)

    @abstractmethod
    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        """One new message (or invoice) in `chat_id`, tried once; what became of it."""

    @abstractmethod
    async def _edit(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        """Edit a message of the chat; False when it cannot be (send anew instead)."""
