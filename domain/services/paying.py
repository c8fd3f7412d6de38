"""Paying: an order paid once, by the wallet, a payment provider or Telegram Payments; a charge
that cannot pay its order as it is kept in the wallet; after payment the order is carried on
by fulfilment."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from domain.clock import Clock, utc_now
from domain.errors import RecordConflict
from domain.money import CNY, Money
from domain.orders import (
    PAYABLE,
    Order,
    OrderPurpose,
    PaymentMethod,
    check_transition,
)
from domain.ports import ChargeOutcome, PaymentProvider
from domain.repositories import NewPayment, OrderRecord
from domain.repositories.money import MoneyUnitOfWork, MoneyUnitOfWorkFactory
from domain.services.fulfilment import FulfilmentService
from domain.services.loyalty import LoyaltyService
from domain.services.recharge import (
    CouponUnavailable,
    InsufficientBalance,
    MethodNotOffered,
    NotPayable,
    OrderNotFound,
    OrderSteps,
    PaymentDeclined,
    PaymentNotMatched,
    PaymentUnconfirmed,
    RechargeConfig,
    S,
    order_id_from_payload,
    order_of,
)
from domain.services.risk import AccountFrozen, RiskService

log = logging.getLogger(__name__)


class PaymentService(OrderSteps):
    def __init__(
        self,
        uow: MoneyUnitOfWorkFactory,
        config: RechargeConfig,
        providers: Mapping[PaymentMethod, PaymentProvider],
        fulfilment: FulfilmentService,
        loyalty: LoyaltyService,
        risk: RiskService,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(uow, config, loyalty, clock)
        self._providers = providers
        self._fulfilment = fulfilment
        self._risk = risk

    # -- paying -------------------------------------------------------------------------------
    async def pay_with_wallet(self, customer_id: int, order_id: int) -> Order:
        """Debit the wallet, mark the order paid and sent to the carrier in one transaction,
        then top up."""
        if PaymentMethod.WALLET not in self.methods_for(OrderPurpose.RECHARGE):
            raise MethodNotOffered(PaymentMethod.WALLET)
        now = self._clock()
        async with self._uow() as uow:
            row = await self._own_payable_row(uow, customer_id, order_id, PaymentMethod.WALLET)
            order = order_of(row)
            if not await self._loyalty.take_reward_coupon(uow, row):
                raise CouponUnavailable(order.id)
            if order.status is S.CREATED:
                await self._move(uow, order.id, (S.CREATED,), S.AWAITING_PAYMENT, "pay by wallet")
            try:
                moved = await self._move(
                    uow,
                    order.id,
                    (S.AWAITING_PAYMENT,),
                    S.PAID,
                    "wallet payment",
                    payment=self._payment(PaymentMethod.WALLET, f"wallet:{order.id}"),
                    payment_method=PaymentMethod.WALLET.value,
                )
            except RecordConflict as error:
                raise NotPayable(order) from error
            if not moved:
                raise NotPayable(await self._reload(uow, order.id))
            # The price the order has as it is paid (a change just before is paid as changed).
            price = Money(moved.amount_fen, moved.currency)
            debited = await uow.wallets.post(
                customer_id, -price.fen, price.currency, "payment", f"pay:{order.id}", now, order.id
            )
            if not debited:
                self.observed.payment(PaymentMethod.WALLET.value, "declined")
                balance = await uow.wallets.balance(customer_id)
                raise InsufficientBalance(Money(balance, price.currency), price)
            try:
                carried = await self._fulfilment.carry_on(uow, moved)
                await uow.commit()
            except RecordConflict as error:
                raise NotPayable(order) from error
        self.observed.payment(PaymentMethod.WALLET.value, "approved")
        return (
            await self._fulfilment.top_up(carried)
            if carried
            else await self._fulfilment.fulfil(order.id)
        )

    async def pay_with_provider(
        self, customer_id: int, order_id: int, method: PaymentMethod
    ) -> Order:
        """Charge through an external provider (idempotent per order), then top up."""
        provider = self._providers.get(method)
        if provider is None or method not in self.config.methods:
            raise MethodNotOffered(method)
        order = await self._await_payment(customer_id, order_id, method)
        result = await provider.charge(order)
        self.observed.payment(method.value, result.outcome.value)
        if result.outcome is ChargeOutcome.DECLINED:
            await self._note(order.id, S.AWAITING_PAYMENT, f"declined: {result.reason or ''}")
            if await self._risk.declined(customer_id, order.id) is not None:
                raise AccountFrozen(str(customer_id))
            raise PaymentDeclined(result.reason)
        if result.outcome is ChargeOutcome.UNKNOWN:
            await self._note(order.id, S.AWAITING_PAYMENT, "charge unconfirmed")
            raise PaymentUnconfirmed(order.id)
        settled = await self.settle(order.id, method, result.reference)
        return (
            await self._fulfilment.top_up(settled)
            if settled
            else await self._fulfilment.fulfil(order.id)
        )

    async def start_invoice(self, customer_id: int, order_id: int) -> Order:
        """Telegram Payments: the order now waits for the invoice to be paid."""
        if PaymentMethod.TELEGRAM not in self.config.methods:
            raise MethodNotOffered(PaymentMethod.TELEGRAM)
        return await self._await_payment(customer_id, order_id, PaymentMethod.TELEGRAM)

    async def check_pre_checkout(
        self, customer_id: int, payload: str, currency: str, total_fen: int
    ) -> str | None:
        """None when the invoice may be paid now, else the reason it may not."""
        order_id = order_id_from_payload(payload)
        if order_id is None:
            return "order_not_found"
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id:
                return "order_not_found"
            order = order_of(row)
        if not order.payable:
            return "not_payable"
        if self._clock() >= order.expires_at:
            return "expired"
        if (currency, total_fen) != (order.amount.currency, order.amount.fen):
            return "amount_changed"
        return None

    async def settle_telegram_payment(
        self,
        customer_id: int,
        payload: str,
        currency: str,
        total_fen: int,
        charge_id: str,
        provider_charge_id: str | None = None,
    ) -> Order:
        """A successful_payment update: settle the order once per charge id, then top up.

        A payment that arrives for an order that can no longer be paid (it expired meanwhile)
        is kept and refunded to the customer's wallet: money is never lost.
        """
        order_id = order_id_from_payload(payload)
        now = self._clock()
        charged = Money(total_fen, currency)
        async with self._uow() as uow:
            existing = await uow.payments.by_telegram_charge(charge_id)
            if existing is not None:
                return await self._reload(uow, existing.order_id)  # a duplicate update
            row = await uow.orders.get(order_id) if order_id is not None else None
            order = order_of(row) if row is not None and row.customer_id == customer_id else None
            if order is None or charged != order.amount:
                credited = await self._keep_unmatched(uow, customer_id, order, charged, charge_id)
                await uow.commit()
                self.observed.payment(PaymentMethod.TELEGRAM.value, "unmatched")
                raise PaymentNotMatched(charged, credited)
            moved = await self._move(
                uow,
                order.id,
                (S.AWAITING_PAYMENT,),
                S.PAID,
                "telegram payment",
                payment_method=PaymentMethod.TELEGRAM.value,
            )
            if moved:
                payment = replace(
                    self._payment(PaymentMethod.TELEGRAM, provider_charge_id),
                    telegram_charge_id=charge_id,
                    amount_fen=total_fen,  # what was charged
                    currency=currency,
                )
                await uow.payments.add(order.id, payment)
            elif await uow.payments.by_telegram_charge(charge_id) is not None:
                # A duplicate of this very update settled the order while we waited for it.
                return await self._reload(uow, order.id)
            elif await uow.wallets.has_entry(f"late:{charge_id}"):
                return order  # a replay of a late payment already credited
            else:
                # Paid, but the order can no longer take it (it expired meanwhile): the money
                # goes to the customer's wallet at once, keyed by the charge so only once.
                log.warning(
                    "late payment %s for %s (%s) credited to the wallet",
                    charge_id,
                    order.number,
                    order.status,
                )
                await uow.wallets.post(
                    order.customer_id,
                    total_fen,
                    currency,
                    "refund",
                    f"late:{charge_id}",
                    now,
                    order.id,
                )
            try:
                await uow.commit()
            except RecordConflict:
                moved = None  # a concurrent duplicate of this update settled it first
            if moved:
                self.observed.payment(PaymentMethod.TELEGRAM.value, "approved")
        return await self._fulfilment.fulfil(order.id) if moved else await self.get(order.id)

    async def _keep_unmatched(
        self,
        uow: MoneyUnitOfWork,
        customer_id: int,
        order: Order | None,
        charged: Money,
        charge_id: str,
    ) -> bool:
        """A charge that pays no order of the customer's as it is: into the customer's wallet,
        keyed by the charge so only once (True); one the wallet cannot take (no wallet, another
        currency) is logged for staff with everything needed to give it back (False)."""
        named = order.number if order is not None else "no order"
        key = f"unmatched:{charge_id}"
        if await uow.wallets.has_entry(key):
            return True  # a replay of this update
        if charged.currency == CNY and charged.fen > 0:
            order_id = order.id if order is not None else None
            if await uow.wallets.post(
                customer_id, charged.fen, charged.currency, "refund", key, self._clock(), order_id
            ):
                log.error(
                    "payment %s of %s for %s matches no order as it is: credited to the wallet "
                    "of customer %s",
                    charge_id,
                    charged.format(),
                    named,
                    customer_id,
                )
                return True
        log.error(
            "payment %s of %s %s for %s matches no order and cannot go to a wallet "
            "(customer %s): kept for staff to give back",
            charge_id,
            charged.fen,
            charged.currency,
            named,
            customer_id,
        )
        return False

    async def settle(
        self, order_id: int, method: PaymentMethod, reference: str | None
    ) -> Order | None:
        """Mark a provider-approved order paid, with its payment, and carry it on (see
        `_send_at_once` and `_carry_on`); the order as it then is, only for the one call that
        settled it."""
        async with self._uow() as uow:
            try:
                moved = await self._move(
                    uow,
                    order_id,
                    (S.AWAITING_PAYMENT,),
                    S.PAID,
                    f"{method} payment",
                    payment=self._payment(method, reference),
                    payment_method=method.value,
                )
            except RecordConflict:
                return None
            if moved is None:
                if await uow.orders.get(order_id) is None:
                    raise OrderNotFound(order_id)
                return None
            sent = await self._fulfilment.send_at_once(uow, moved)
            await uow.commit()
        if sent is not None:
            return order_of(sent)
        # Kept paid: should the process stop here, recovery carries the order on.
        async with self._uow() as uow:
            carried = await self._fulfilment.carry_on(uow, moved)
            if carried is not None:
                await uow.commit()
        return carried

    async def cancel(self, customer_id: int, order_id: int) -> Order:
        """The customer drops an unpaid order."""
        async with self._uow() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id:
                raise OrderNotFound(order_id)
            if not await self._move(uow, order_id, PAYABLE, S.EXPIRED, "cancelled by customer"):
                raise NotPayable(order_of(row))
            await uow.commit()
        return await self.get(order_id)

    # -- helpers ------------------------------------------------------------------------------
    async def _await_payment(self, customer_id: int, order_id: int, method: PaymentMethod) -> Order:
        check_transition(S.CREATED, S.AWAITING_PAYMENT)
        purposes = [p.value for p in OrderPurpose if method in self.methods_for(p)]
        if purposes:
            # An order holding no coupon of the customer's own starts by one conditional write
            # that commits by itself: no BEGIN and COMMIT around it (two round trips to
            # PostgreSQL, two hand-offs on SQLite). Any other goes on below.
            async with self._uow.single_statement() as uow:
                started = await uow.orders.start_payment(
                    order_id,
                    customer_id,
                    purposes,
                    method.value,
                    f"pay by {method}",
                    self._clock(),
                    without_own_coupon=True,
                )
                await uow.commit()
            if started is not None:
                return order_of(started)
        # Not started by that write: the order holds a coupon of the customer's own, is not a
        # new order of this customer's that the method pays (the checks say why), or already
        # awaits payment (paid again, perhaps another way). One transaction, before any money
        # moves: the order takes its own coupon in it, and when another order has the coupon,
        # nothing of this one is kept (it stays as it was).
        async with self._uow() as uow:
            row = await self._own_payable_row(uow, customer_id, order_id, method)
            if not await self._loyalty.take_reward_coupon(uow, row):
                raise CouponUnavailable(order_id)
            if row.status == S.CREATED.value:
                started = await uow.orders.start_payment(
                    order_id, customer_id, purposes, method.value, f"pay by {method}", self._clock()
                )
            else:
                await uow.orders.set_values(order_id, payment_method=method.value)
                started = replace(row, payment_method=method.value)
            if started is None:
                raise NotPayable(await self._reload(uow, order_id))
            await uow.commit()
            return order_of(started)

    async def _own_payable_row(
        self, uow: MoneyUnitOfWork, customer_id: int, order_id: int, method: PaymentMethod
    ) -> OrderRecord:
        """The customer's order that `method` may pay now, as read."""
        row = await uow.orders.get(order_id)
        if row is None or row.customer_id != customer_id:
            raise OrderNotFound(order_id)
        order = order_of(row)
        if method not in self.methods_for(order.purpose):
            raise MethodNotOffered(method)
        if not order.payable:
            raise NotPayable(order)
        if self._clock() >= order.expires_at:
            raise NotPayable(replace(order, status=S.EXPIRED))
        return row

    def _payment(self, method: PaymentMethod, reference: str | None) -> NewPayment:
        """A payment captured now; its order, amount and currency are set where it is kept."""
        return NewPayment(method=method.value, reference=reference, captured_at=self._clock())

    async def poll_providers(self) -> None:
        """Ask providers about charges that got no definite answer; settle the approved ones."""
        methods = [m.value for m in self._providers]
        async with self._uow() as uow:
            waiting = await uow.orders.awaiting_provider([S.AWAITING_PAYMENT.value], methods)
        for order_id in waiting:
            order = await self.get(order_id)
            if order.payment_method is None:
                continue
            provider = self._providers[order.payment_method]
            result = await provider.status(order)
            if result.outcome is ChargeOutcome.APPROVED:
                settled = await self.settle(order_id, order.payment_method, result.reference)
                if settled is not None:
                    await self._fulfilment.top_up(settled)

    async def recover(self, limit: int = 200) -> list[Order]:
        """After any stop: every paid order carried on (`FulfilmentService.recover`), and the
        charges that got no definite answer asked about again; the orders that moved on."""
        moved = await self._fulfilment.recover(limit)
        await self.poll_providers()
        return moved
