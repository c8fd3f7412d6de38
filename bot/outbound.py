"""The outbound port as the scheduler sees it, bound to whichever front end is running."""

from __future__ import annotations

import logging

from handlers.contract import Delivery, DeliveryStatus, Notifier, Reply

log = logging.getLogger(__name__)


class OutboundPort:
    """Forwards to the running front end's notifier; answers "try again" until one is attached,
    so a sweep that runs before the front end is up simply tries again next time."""

    def __init__(self) -> None:
        self._target: Notifier | None = None

    def attach(self, notifier: Notifier) -> None:
        self._target = notifier

    def detach(self) -> None:
        self._target = None

    @property
    def attached(self) -> bool:
        """Whether a front end is running and takes this port's messages (/readyz)."""
        return self._target is not None

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        if self._target is None:
            return Delivery(DeliveryStatus.RETRY, reason="no front end is running")
        try:
            return await self._target.send(chat_id, reply)
        except Exception as error:
            log.exception("sending to chat %s failed", chat_id)
            return Delivery(DeliveryStatus.RETRY, reason=repr(error))

    async def open_topic(self, chat_id: int, name: str) -> int | None:
        """A forum topic through the running front end; None when none runs or it cannot."""
        opener = getattr(self._target, "open_topic", None)
        if opener is None:
            return None
        try:
            topic: int | None = await opener(chat_id, name)
            return topic
        except Exception:
            log.exception("opening a topic in chat %s failed", chat_id)
            return None

    async def edit_message(self, chat_id: int, message_id: int, reply: Reply) -> Delivery:
        """Edit a message through the running front end; "try again" until one runs, refused
        by a front end that cannot edit (the console)."""
        if self._target is None:
            return Delivery(DeliveryStatus.RETRY, reason="no front end is running")
        editor = getattr(self._target, "edit_message", None)
        if editor is None:
            return Delivery(DeliveryStatus.REJECTED, reason="this front end cannot edit")
        try:
            delivery: Delivery = await editor(chat_id, message_id, reply)
            return delivery
        except Exception as error:
            log.exception("editing message %s in chat %s failed", message_id, chat_id)
            return Delivery(DeliveryStatus.RETRY, reason=repr(error))

    async def remove_message(self, chat_id: int, message_id: int) -> Delivery:
        """Delete a message through the running front end; "try again" until one runs, refused
        by a front end that cannot delete (the console)."""
        if self._target is None:
            return Delivery(DeliveryStatus.RETRY, reason="no front end is running")
        deleter = getattr(self._target, "remove_message", None)
        if deleter is None:
            return Delivery(DeliveryStatus.REJECTED, reason="this front end cannot delete")
        try:
            delivery: Delivery = await deleter(chat_id, message_id)
            return delivery
        except Exception as error:
            log.exception("deleting message %s in chat %s failed", message_id, chat_id)
            return Delivery(DeliveryStatus.RETRY, reason=repr(error))
