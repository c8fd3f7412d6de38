"""Telling one customer something from a sweep, in their own language."""

from __future__ import annotations

from collections.abc import Callable

from domain.services.customers import CustomerNotFound
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
