"""Telling one customer something from a sweep, in their own language; and giving a claimed
message back when it did not go out, even when the database went away meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable

from domain.services.customers import CustomerNotFound
from domain.services.pending_records import PendingRecords
from domain.services.registry import Services
from handlers.contract import Notifier, Reply
from handlers.i18n import Texts, texts


async def tell_customer(
    services: Services, notifier: Notifier, customer_id: int, message: Callable[[Texts], Reply]
) -> bool | None:
    """Send the customer `message` in their language in their private chat. True when it was
    sent, False when it could not be (try again later), None when there is nobody to tell (the
    customer erased their data)."""
    try:
        customer = await services.customers.get(customer_id)
    except CustomerNotFound:
        return None
    if customer.telegram_id is None:
        return None
    return bool(await notifier.send(customer.telegram_id, message(texts(customer.language))))


async def tell_chat(notifier: Notifier, chat_id: int, reply: Reply) -> bool:
    """Send `reply` to a chat (the staff chat): whether it was delivered."""
    return bool(await notifier.send(chat_id, reply))


async def send_claimed(
    records: PendingRecords,
    key: Hashable,
    send: Callable[[], Awaitable[bool | None]],
    give_back: Callable[[], Awaitable[object]],
) -> bool | None:
    """Send a message the caller claimed for good before sending it (a notice's "told" flag):
    what `send` says (True sent, False not delivered, None nobody to tell). One that did not go
    out, or whose sending failed before anything went out (the database gone while it was put
    together), has its claim given back for the next sweep: written now, or kept by `records`
    (under `key`) and written as soon as the database takes it, so an outage never loses it."""
    try:
        sent = await send()
    except Exception:
        await records.record(key, give_back)
        raise
    if sent is False:
        await records.record(key, give_back)
    return sent
