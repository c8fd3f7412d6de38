"""What every front end does with an `Outcome`, in the same order, whatever its framework."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Protocol

from bot.webhook import leave_for_webhook_answer
from domain.observations import UNOBSERVED, Observations
from handlers.chat_queues import busy_reply, slow_down_reply
from handlers.contract import Delivery, DeliveryStatus, EventKind, Incoming, Outcome, Reply

log = logging.getLogger(__name__)

# An answer refused with a 429 is sent again after each `retry_after`, until this long after the
# first try (REPLY_DEADLINE_SECONDS); then it is given up and logged.
REPLY_DEADLINE_SECONDS = 30.0


class SharedLimiter(Protocol):
    """Telegram's sending limits kept by every process together: `acquire` waits until one more
    message to the chat keeps them (a paid broadcast's message: the higher paid rate), and takes
    its place."""

    async def acquire(self, chat_id: int, *, paid: bool = False) -> None: ...


def paid_broadcast(reply: Reply) -> bool | None:
    """Telegram's `allow_paid_broadcast` of a message: True for a paid broadcast's message,
    else left out of the request (None)."""
    return True if reply.paid_broadcast else None


def deadline_in(seconds: float) -> float:
    """The event-loop time `seconds` from now."""
    return asyncio.get_running_loop().time() + seconds


async def waited_out(retry_after: float, deadline: float) -> bool:
    """Sleep out a 429's `retry_after` when the next try still starts before `deadline`;
    False (at once) when it would not."""
    if asyncio.get_running_loop().time() + retry_after > deadline:
        return False
    await asyncio.sleep(retry_after)
    return True


def button_answer(callback_id: str, notice: str | None) -> dict[str, object]:
    """`answerCallbackQuery`'s parameters: the pressed button's query, and the notice if any."""
    return {"callback_query_id": callback_id, **({"text": notice} if notice else {})}


class OutcomeSender(ABC):
    """A front end's sender: it only says how to make each Bot API call."""

    # How long an answer may wait out Telegram's flood control (429) before it is given up.
    reply_deadline: float = REPLY_DEADLINE_SECONDS
    # With several processes: a reply to another chat than the one that wrote (a staff alert)
    # was asked for by nobody there, and takes its place within the limits shared by all.
    unasked_limiter: SharedLimiter | None = None
    # Told each 429 Telegram answers a turn's call (a reply, an edit, a button's answer), as
    # the delivery port tells those of the messages nobody asked for.
    observed: Observations = UNOBSERVED

    async def deliver(self, event: Incoming, outcome: Outcome) -> None:
        """Delete what must not stay in the chat (a typed PIN), answer the pressed button or the
        payment question (always; a button's answer goes in the webhook's 200 when the update
        came by webhook), then each reply."""
        for message_id in outcome.delete_messages:
            await self.remove_message(event.chat_id, message_id)
        if event.callback_id is not None and not leave_for_webhook_answer(
            "answerCallbackQuery", button_answer(event.callback_id, outcome.notice)
        ):
            await self.answer_button(event.callback_id, outcome.notice)
        if event.kind is EventKind.PRE_CHECKOUT and event.payment is not None:
            await self.answer_pre_checkout(event.payment.query_id, outcome.pre_checkout_error)
        delivered = [await self.reply(event, reply) for reply in outcome.replies]
        if all(delivered):
            for then in outcome.after_delivery:
                await then()

    async def slow_down(self, chat_id: int, language_code: str | None) -> None:
        """Ask a chat that floods the bot to slow down (once per flood), tried once."""
        await self.send(chat_id, slow_down_reply(language_code))

    async def busy(self, chat_id: int, language_code: str | None) -> None:
        """Tell a customer whose update found no database connection free to try again in a
        moment, tried once."""
        await self.send(chat_id, busy_reply(language_code))

    @abstractmethod
    async def answer_button(self, callback_id: str, notice: str | None) -> None: ...

    @abstractmethod
    async def remove_message(self, chat_id: int, message_id: int) -> Delivery:
        """deleteMessage, tried once; a failure is logged (the message may be gone already) and
        said in the `Delivery` (the outbound port's `MessageDeleter`)."""

    @abstractmethod
    async def answer_pre_checkout(self, query_id: str | None, error: str | None) -> None: ...

    async def reply(self, event: Incoming, reply: Reply) -> bool:
        """Edit the pressed button's message when asked and possible, else send anew. Flood
        control (429) is waited out, each `retry_after` in turn, within `reply_deadline`; the
        chat's next answers wait behind this one, so they still arrive in order. True when the
        reply reached the chat."""
        chat_id = reply.chat_id if reply.chat_id is not None else event.chat_id
        if reply.edit and event.message_id is not None and chat_id == event.chat_id:
            if await self._edit(chat_id, event.message_id, reply):
                return True
        if chat_id != event.chat_id and self.unasked_limiter is not None:
            await self.unasked_limiter.acquire(chat_id)
        deadline = deadline_in(self.reply_deadline)
        delivery = await self.send(chat_id, reply)
        while delivery.status is DeliveryStatus.RATE_LIMITED:
            self.observed.too_many_requests()
            wait = delivery.retry_after if delivery.retry_after is not None else 1.0
            if not await waited_out(wait, deadline):
                log.warning(
                    "an answer to chat %s was given up: Telegram's flood control outlasted %s s",
                    chat_id,
                    self.reply_deadline,
                )
                return False
            if chat_id != event.chat_id and self.unasked_limiter is not None:
                await self.unasked_limiter.acquire(chat_id)
            delivery = await self.send(chat_id, reply)
        return bool(delivery)

    @abstractmethod
    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        """One new message (or invoice) in `chat_id`, tried once; what became of it."""

    @abstractmethod
    async def _edit(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        """Edit a message of the chat; False when it cannot be (send anew instead)."""
