"""Outcomes: how a customer is told how each order ended, recorded as told only once the
message was delivered (a stopped sender's claim lapses and the sweep tells them)."""

from __future__ import annotations

import logging

from domain.orders import (
    Order,
)
from domain.services.recharge import (
    OUTCOME_CLAIM,
    OrderSteps,
    S,
)

log = logging.getLogger(__name__)


class OutcomeService(OrderSteps):
    async def unnotified_outcomes(self, limit: int = 100) -> list[Order]:
        """Orders that reached their end while nobody was told (the customer had left, or a
        message could not be delivered), and that nobody is telling now."""
        finals = [S.COMPLETED.value, S.REFUNDED.value]
        async with self._uow.read() as uow:
            ids = await uow.orders.unnotified(finals, limit, self._clock())
        return [await self.get(order_id) for order_id in ids]

    async def claim_outcome(self, order_id: int) -> bool:
        """True for the one caller that tells the customer how the order ended, now; it then
        says `outcome_told` once the message was delivered, or `release_outcome`. A caller
        that stops in between loses its claim after `OUTCOME_CLAIM`: the sweep tells then."""
        now = self._clock()
        async with self._uow() as uow:
            claimed = await uow.orders.claim_outcome(order_id, now, now + OUTCOME_CLAIM)
            await uow.commit()
            return claimed

    async def outcome_told(self, order_id: int) -> None:
        async with self._uow() as uow:
            await uow.orders.outcome_told(order_id)
            await uow.commit()

    async def release_outcome(self, order_id: int) -> None:
        """The outcome could not be delivered: let the next sweep try again."""
        async with self._uow() as uow:
            await uow.orders.release_outcome(order_id)
            await uow.commit()
