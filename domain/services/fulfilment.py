"""Fulfilment: a paid order sent to the carrier with its offers' slots, completed with what it
earns, or refunded where its money came from, exactly once; unpaid orders expire and paid
ones are carried on after any stop."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from domain.audit import AuditEntry
from domain.clock import Clock, utc_now
from domain.errors import RecordConflict
from domain.orders import (
    PAYABLE,
    Order,
    OrderPurpose,
    PaymentMethod,
    recheck_delay,
)
from domain.ports import PaymentProvider, TopUpGateway, TopUpResult, TopUpState
from domain.repositories import OrderRecord, PaymentRecord, SlotClaim
from domain.repositories.money import MoneyUnitOfWork, MoneyUnitOfWorkFactory
from domain.services.loyalty import LoyaltyService, quote_json
from domain.services.recharge import (
    OrderNotFound,
    OrderSteps,
    RechargeConfig,
    S,
    order_id_from_number,
    order_of,
)

log = logging.getLogger(__name__)


class RefundStep(StrEnum):
    """What became of one call to refund an order."""

    REFUNDED = "refunded"  # this call refunded it
    NOT_DUE = "not_due"  # it is not failed (refunded already, or not failed yet)
    UNDER_WAY = "under_way"  # its refund through the provider is in hand (another call's)
    REFUSED = "refused"  # the provider refused: it is refunded on a later try


class FulfilmentService(OrderSteps):
    def __init__(
        self,
        uow: MoneyUnitOfWorkFactory,
        config: RechargeConfig,
        providers: Mapping[PaymentMethod, PaymentProvider],
        gateway: TopUpGateway,
        loyalty: LoyaltyService,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(uow, config, loyalty, clock)
        self._providers = providers
        self._gateway = gateway

    # -- topping up ---------------------------------------------------------------------------
    async def fulfil(self, order_id: int) -> Order:
        """Carry a paid order on: a wallet top-up credits at once, a recharge asks the gateway."""
        async with self._uow() as uow:
            row = await uow.orders.get(order_id)
            if row is None:
                raise OrderNotFound(order_id)
            order = order_of(row)
            if order.status is not S.PAID:
                return order
            carried = await self.carry_on(uow, row)
            if carried is None:
                return await self._reload(uow, order.id)  # another worker is on it
            await uow.commit()
        return await self.top_up(carried)

    async def carry_on(self, uow: MoneyUnitOfWork, row: OrderRecord) -> Order | None:
        """Inside the transaction that finds an order paid: a wallet top-up is credited and
        completed; a recharge is marked as sent to the carrier, and the slots of the offers
        it gets are claimed (`LoyaltyService.hold`). The order as it then is; None when
        another worker moved it first."""
        now = self._clock()
        order = order_of(row)
        if order.purpose is OrderPurpose.WALLET_TOPUP:
            credited = await self._move(
                uow, order.id, (S.PAID,), S.COMPLETED, "wallet credited", completed_at=now
            )
            if credited is None:
                return None
            await uow.wallets.post(
                order.customer_id,
                order.amount.fen,
                order.amount.currency,
                "topup",
                f"topup:{order.id}",
                now,
                order.id,
            )
            return order_of(credited)
        sent = await self._send_to_carrier(uow, order.id)
        if sent is None:
            return None
        held = await self._loyalty.hold(uow, sent)
        return replace(order_of(sent), quote=held) if held is not None else order_of(sent)

    async def send_at_once(self, uow: MoneyUnitOfWork, row: OrderRecord) -> OrderRecord | None:
        """Right after an order was paid (`row`): a recharge is sent to the carrier at once,
        with its quote now, taking the slots of the offers it gets in the same write (on
        PostgreSQL one statement, with no transaction around it). The order's row as sent,
        or None when it was not: it is no recharge, another worker moved it first, or a slot
        was gone (the slots it took stay held); `_carry_on` in a transaction then finds out
        which, and re-quotes without what is gone."""
        if row.purpose != OrderPurpose.RECHARGE.value or row.reward_coupon_id is not None:
            return None  # a customer's own coupon is taken by `_carry_on`
        quote = await self._loyalty.quote_of(uow, row)
        claims = []
        if quote is not None and quote.benefits:
            claims = list((await self._loyalty.slot_claims(uow, row, quote)).values())
        held = quote_json(quote) if quote is not None else row.quote
        try:
            sent = await self._send_to_carrier(
                uow, row.id, held if held != row.quote else None, claims
            )
            if sent is not None and claims:  # a slot gone is found (and counted) by `hold`
                self._loyalty.observed.quota_claim(True, len(claims))
            return sent
        except RecordConflict:  # another worker claimed for this order at the same moment
            return None

    async def _send_to_carrier(
        self,
        uow: MoneyUnitOfWork,
        order_id: int,
        quote: dict[str, Any] | None = None,
        claims: Sequence[SlotClaim] = (),
    ) -> OrderRecord | None:
        """paid -> topping up (with the `quote` it is now held at, when that changed, and the
        slots of its offers, `claims`)."""
        values: dict[str, Any] = {"quote": quote} if quote is not None else {}
        return await self._move(
            uow,
            order_id,
            (S.PAID,),
            S.TOPPING_UP,
            "sent to carrier",
            claims=claims,
            next_check_at=self._clock() + recheck_delay(timedelta(0), self.config.recheck_after),
            **values,
        )

    async def top_up(self, order: Order) -> Order:
        """After `_carry_on` committed: a recharge sent to the carrier is submitted to it."""
        if order.status is not S.TOPPING_UP:
            return order
        return await self._apply(order, await self._ask_gateway(order, submit=True))

    async def refresh(self, order_id: int) -> Order:
        """Ask again about an order in flight ("check status" and the recovery sweep)."""
        return await self._carry_on_from(await self.get(order_id))

    async def _carry_on_from(self, order: Order) -> Order:
        """The next step of the order as read: paid, it is sent; topping up, the carrier is
        asked; failed, it is refunded (each step a conditional write on the order as it is
        then: one another worker took first changes nothing)."""
        if order.status is S.PAID:
            return await self.fulfil(order.id)
        if order.status is S.TOPPING_UP:
            return await self._apply(order, await self._ask_gateway(order, submit=False))
        if order.status is S.FAILED:
            return await self.refund(order.id)
        return order

    async def carrier_reported(self, number: str, result: TopUpResult) -> Order | None:
        """The carrier gateway's own word on a top-up (its callback): applied to the order it
        names when that is still topping up, exactly as an answer to asking would be; a replay
        or a word on a finished order changes nothing. None: no such order."""
        order_id = order_id_from_number(number)
        if order_id is None:
            return None
        try:
            order = await self.get(order_id)
        except OrderNotFound:
            return None
        if order.number != number:
            return None  # the id of another day's order: not the one the carrier means
        if order.status is not S.TOPPING_UP or result.state is TopUpState.PENDING:
            return order
        return await self._apply(order, result)

    async def _ask_gateway(self, order: Order, *, submit: bool) -> TopUpResult:
        try:
            if submit:
                return await self._gateway.submit(order)
            return await self._gateway.status(order)
        except Exception:  # an unknown outcome is never a failure: ask again later
            log.exception("carrier gateway gave no answer for %s", order.number)
            return TopUpResult(TopUpState.PENDING)

    async def _apply(self, order: Order, result: TopUpResult) -> Order:
        now = self._clock()
        # What the gateway says is kept within its columns, whatever it sends.
        result = TopUpResult(
            result.state,
            str(result.reference)[:64] if result.reference is not None else None,
            str(result.reason)[:64] if result.reason is not None else None,
        )
        self.observed.top_up(result.state.value)
        if result.state is TopUpState.COMPLETED:
            return await self._complete(order, result.reference)
        if result.state is TopUpState.FAILED:
            async with self._uow() as uow:
                await self._move(
                    uow,
                    order.id,
                    (S.TOPPING_UP,),
                    S.FAILED,
                    f"carrier failed: {result.reason or ''}"[:64],
                    failure_reason=(result.reason or "carrier_failed")[:64],
                    gateway_reference=result.reference,
                    next_check_at=None,
                )
                await uow.commit()
            return await self.refund(order.id)
        async with self._uow() as uow:  # still topping up: asked again later
            sent = await uow.orders.get(order.id)  # moved to topping up when sent
            if sent is None:
                raise OrderNotFound(order.id)
            asked_again = replace(
                sent,
                next_check_at=now + recheck_delay(now - sent.updated_at, self.config.recheck_after),
                gateway_reference=result.reference,
            )
            await uow.orders.set_values(
                order.id,
                next_check_at=asked_again.next_check_at,
                gateway_reference=asked_again.gateway_reference,
            )
            await uow.commit()
        return order_of(asked_again)

    async def _complete(self, order: Order, reference: str | None) -> Order:
        """topping up -> completed, with what the order is granted (its quote is fixed once
        it is paid): one write, on PostgreSQL one statement with its history row."""
        grant = self._loyalty.grant_of(order.id, order.quote)
        async with self._uow() as uow:
            moved = await self._move(
                uow,
                order.id,
                (S.TOPPING_UP,),
                S.COMPLETED,
                "carrier completed",
                grant=grant,
                completed_at=self._clock(),
                gateway_reference=reference,
                next_check_at=None,
            )
            await uow.commit()
        return order_of(moved) if moved is not None else await self.get(order.id)

    # -- refunds ------------------------------------------------------------------------------
    async def refund(self, order_id: int) -> Order:
        """Give a failed order's money back where it came from, once.

        Wallet payments go back to the wallet; a provider payment is refunded through the
        provider; Telegram Payments cannot be refunded by a bot, so it goes to the wallet.
        """
        order, _ = await self.refund_once(order_id)
        return order

    async def refund_once(
        self, order_id: int, audit: AuditEntry | None = None
    ) -> tuple[Order, bool]:
        """`refund`, and whether this very call refunded the order (of calls at once, one);
        `audit` is recorded in the refund's own transaction, only by that call."""
        order, step = await self.refund_step(order_id, audit)
        return order, step is RefundStep.REFUNDED

    async def refund_step(
        self, order_id: int, audit: AuditEntry | None = None
    ) -> tuple[Order, RefundStep]:
        """`refund_once`, saying what became of this call (`RefundStep`)."""
        order = await self.get(order_id)
        if order.status is not S.FAILED:
            return order, RefundStep.NOT_DUE
        async with self._uow.read() as uow:
            payment = await uow.payments.of_order(order_id)
        method = PaymentMethod(payment.method) if payment else None
        provider = self._providers.get(method) if method else None
        if provider is None or payment is None:
            return await self._refund_to_wallet(order, payment, audit)
        return await self._refund_by_provider(order, payment, provider, audit)

    async def _refund_to_wallet(
        self, order: Order, payment: PaymentRecord | None, audit: AuditEntry | None
    ) -> tuple[Order, RefundStep]:
        """One transaction, asking no one outside: the order's conditional move is what makes
        it once (of calls at once, one moves the order), and the wallet entry is keyed by it."""
        now = self._clock()
        async with self._uow() as uow:
            if not await self._move(uow, order.id, (S.FAILED,), S.REFUNDED, "refunded to wallet"):
                return await self._reload(uow, order.id), RefundStep.NOT_DUE
            if audit is not None:
                await uow.audit.append(audit, now)
            if payment is not None:
                await uow.payments.mark_refunded(order.id, now, "wallet")
                await uow.wallets.post(
                    order.customer_id,
                    payment.amount_fen,
                    payment.currency,
                    "refund",
                    f"refund:{order.id}",
                    now,
                    order.id,
                )
            await uow.commit()
        return await self.get(order.id), RefundStep.REFUNDED

    async def _refund_by_provider(
        self,
        order: Order,
        payment: PaymentRecord,
        provider: PaymentProvider,
        audit: AuditEntry | None,
    ) -> tuple[Order, RefundStep]:
        """The refund is claimed on the payment in a short transaction of its own (of calls at
        once, one claims it), the provider is asked with no transaction held (a slow provider
        must not hold a connection, or SQLite's write lock, from every other customer), and
        the order is moved to refunded in a second short transaction."""
        claimed_at = self._clock()
        stale_before = claimed_at - self.config.refund_claim_timeout
        async with self._uow() as uow:
            claimed = await uow.payments.claim_refund(order.id, claimed_at, stale_before)
            await uow.commit()
        if not claimed:  # another call has it in hand, or it is refunded
            after = await self.get(order.id)
            return (
                after,
                RefundStep.NOT_DUE if after.status is not S.FAILED else RefundStep.UNDER_WAY,
            )
        # The provider's refund is keyed by the payment's reference, so asking again after a
        # stop (the claim taken over once it is stale) refunds nothing twice at the provider.
        try:
            refunded = await provider.refund(order, payment.reference)
        except Exception:  # an unknown outcome: the claim is kept, to be taken on again later
            log.exception("provider gave no answer to the refund of %s", order.number)
            return order, RefundStep.UNDER_WAY
        if not refunded:
            log.error("provider refund of %s failed; will retry", order.number)
            async with self._uow() as uow:
                await uow.payments.release_refund_claim(order.id, claimed_at)
                await uow.commit()
            return order, RefundStep.REFUSED
        now = self._clock()
        async with self._uow() as uow:
            if not await self._move(
                uow, order.id, (S.FAILED,), S.REFUNDED, "refunded to provider"
            ):  # moved meanwhile (a claim taken over after going stale): nothing more to do
                return await self._reload(uow, order.id), RefundStep.NOT_DUE
            await uow.payments.mark_refunded(order.id, now, "provider")
            if audit is not None:
                await uow.audit.append(audit, now)
            await uow.commit()
        return await self.get(order.id), RefundStep.REFUNDED

    # -- sweeps -------------------------------------------------------------------------------
    async def expire_due(self) -> list[Order]:
        """Unpaid orders past their payment window expire (each once)."""
        now = self._clock()
        async with self._uow() as uow:
            due = await uow.orders.due_for_expiry(now, [s.value for s in PAYABLE])
        expired: list[Order] = []
        for order_id in due:
            async with self._uow() as uow:
                if await self._move(
                    uow,
                    order_id,
                    PAYABLE,
                    S.EXPIRED,
                    "payment window over",
                ):
                    await uow.commit()
                    expired.append(await self._reload(uow, order_id))
        return expired

    async def recover(self, limit: int = 200) -> list[Order]:
        """Carry every paid order on (after a crash too); returns the orders it moved on."""
        now = self._clock()
        statuses = [S.PAID.value, S.TOPPING_UP.value, S.FAILED.value]
        async with self._uow.read() as uow:
            due = await uow.orders.in_flight(now, statuses, limit)
        moved: list[Order] = []
        for row in due:
            before = order_of(row)
            after = await self._carry_on_from(before)
            if after.status is not before.status:
                moved.append(after)
        return moved
