"""What every front end does with an `Outcome`, in the same order, whatever its framework."""

from __future__ import annotations

from abc import ABC, abstractmethod

from handlers.contract import EventKind, Incoming, Outcome, Reply


class OutcomeSender(ABC):
    """A front end's sender: it only says how to make each Bot API call."""

    async def deliver(self, event: Incoming, outcome: Outcome) -> None:
        """Answer the pressed button or the payment question (always, first), then each reply."""
        if event.callback_id is not None:
            await self.answer_button(event.callback_id, outcome.notice)
        if event.kind is EventKind.PRE_CHECKOUT and event.payment is not None:
            await self.answer_pre_checkout(event.payment.query_id, outcome.pre_checkout_error)
        for reply in outcome.replies:
            await self.reply(event, reply)

    @abstractmethod
    async def answer_button(self, callback_id: str, notice: str | None) -> None: ...

    @abstractmethod
    async def answer_pre_checkout(self, query_id: str | None, error: str | None) -> None: ...

    @abstractmethod
    async def reply(self, event: Incoming, reply: Reply) -> None: ...
