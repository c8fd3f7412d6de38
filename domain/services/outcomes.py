"""Outcomes: how a customer is told how each order ended, recorded as told only once the
message was delivered (a stopped sender's claim lapses and the sweep tells them). A record that
the database could not take just after the send is kept and written when it is back
(`domain.services.pending_records`), so a living process never sends a receipt twice."""

from __future__ import annotations

import logging
from functools import partial

from domain.clock import Clock, utc_now
from domain.orders import (
    Order,
)
from domain.repositories.money import MoneyUnitOfWorkFactory
from domain.services.loyalty import LoyaltyService
from domain.services.pending_records import PendingRecords, lapsed_by
from domain.services.recharge import (
    OUTCOME_CLAIM,
    OrderSteps,
    RechargeConfig,
    S,
    order_of,
)

log = logging.getLogger(__name__)


def _receipt(order_id: int) -> tuple[str, int]:
    return ("the receipt of order", order_id)


class OutcomeService(OrderSteps):
    def __init__(
        self,
        uow: MoneyUnitOfWorkFactory,
        config: RechargeConfig,
        loyalty: LoyaltyService,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(uow, config, loyalty, clock)
        # What this process sent and could not yet record (the database went away meanwhile).
        self.records = PendingRecords()

    async def unnotified_outcomes(self, limit: int = 100, *, take_over: bool = True) -> list[Order]:
        """Orders that reached their end while nobody was told (the customer had left, or a
        message could not be delivered), and that nobody is telling now; those whose claim
        lapsed only with `take_over` (see `claim_outcome`). What this process sent but could
        not record is recorded first (raising while the database is away), so it is never
        among them."""
        await self.records.flush()
        finals = [S.COMPLETED.value, S.REFUNDED.value]
        lapsed = lapsed_by(self._clock(), take_over)
        async with self._uow.read() as uow:
            rows = await uow.orders.unnotified(finals, limit, lapsed)
        return [order_of(row) for row in rows]

    async def claim_outcome(self, order_id: int, *, take_over: bool = True) -> bool:
        """True for the one caller that tells the customer how the order ended, now; it then
        says `outcome_told` once the message was delivered, or `release_outcome`. A caller
        that stops in between loses its claim after `OUTCOME_CLAIM`: the sweep tells then,
        taking the lapsed claim over only with `take_over` (a sweep just back in touch with
        the database gives the claim's holder, if it lives, the time to write its record).
        Never True while this process holds a record of the receipt sent that the database
        has not taken yet."""
        if self.records.pending(_receipt(order_id)):
            return False
        now = self._clock()
        async with self._uow() as uow:
            claimed = await uow.orders.claim_outcome(
                order_id, lapsed_by(now, take_over), now + OUTCOME_CLAIM
            )
            await uow.commit()
            return claimed

    async def outcome_told(self, order_id: int) -> None:
        """The receipt was delivered: never again. Written now, or kept and written as soon as
        the database takes it."""
        await self.records.record(_receipt(order_id), partial(self._told, order_id))

    async def release_outcome(self, order_id: int) -> None:
        """The outcome could not be delivered: let the next sweep try again (written now, or
        as soon as the database takes it)."""
        await self.records.record(_receipt(order_id), partial(self._release, order_id))

    async def _told(self, order_id: int) -> None:
        async with self._uow() as uow:
            await uow.orders.outcome_told(order_id)
            await uow.commit()

    async def _release(self, order_id: int) -> None:
        async with self._uow() as uow:
            await uow.orders.release_outcome(order_id)
            await uow.commit()
