"""Recharge use cases: from a chosen product to a completed top-up, exactly once.

Every state change is one transaction with a conditional update (`OrderRepository.move`), so a
double tap, a replayed update or a second worker changes nothing twice. Payment providers and
the carrier gateway are asked outside transactions, idempotently per order, and their answers
are applied in a transaction of their own. Sweeps (`expire_due`, `recover`) carry every paid order
on to completed or refunded after any crash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from domain.campaigns import Benefit, OfferKind, Quote
from domain.catalogue import Product, ProductKind
from domain.clock import Clock, utc_now
from domain.errors import RecordConflict
from domain.limits import parse_id
from domain.money import CNY, Money
from domain.orders import (
    PAYABLE,
    BundledPack,
    Order,
    OrderPurpose,
    OrderStatus,
    PaymentMethod,
    RechargeLimits,
    check_limits,
    check_transition,
    recheck_delay,
)
from domain.persistence.core import Record
from domain.persistence.ledgers import Grant, SlotClaim
from domain.persistence.repositories import OrderChange
from domain.persistence.tables import OrderRow, PaymentRow, ProductRow
from domain.persistence.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.phone import Carrier, PhoneNumber
from domain.ports import ChargeOutcome, PaymentProvider, TopUpGateway, TopUpResult, TopUpState
from domain.services.loyalty import LoyaltyService, offer_of, quote_from_json, quote_json

log = logging.getLogger(__name__)

PAYABLE_VALUES = frozenset(s.value for s in PAYABLE)

S = OrderStatus


# How long a claim to tell a customer an order's outcome lasts before the sweep may tell them.
OUTCOME_CLAIM = timedelta(minutes=2)


class RechargeError(Exception):
    """A customer-facing refusal; `reason` names a text."""

    reason = "error"


class ProductUnavailable(RechargeError):
    reason = "product_unavailable"


class CarrierNotServed(RechargeError):
    reason = "carrier_not_served"


class CouponInvalid(RechargeError):
    """The code is unknown, expired, used up, or does not fit this order."""

    reason = "coupon_invalid"


class CouponThrottled(RechargeError):
    """Too many wrong codes lately: guessing codes is throttled."""

    reason = "coupon_throttled"


# At most this many wrong coupon codes per customer in this window.
COUPON_MISSES = 5
COUPON_WINDOW = timedelta(minutes=10)
COUPON_REJECTED = "coupon rejected"


class BundleUnavailable(RechargeError):
    """No live bundle offer adds this pack to this order (or the order takes no bundle)."""

    reason = "bundle_unavailable"


@dataclass(frozen=True)
class BundleChoice:
    """A data pack a live bundle offer adds to an unpaid call-credit order, priced now."""

    pack: Product
    # What adding the pack adds to the price to pay, and what the bundle takes off the pair.
    extra: Money
    saving: Money


class CouponUnavailable(RechargeError):
    """The customer's own coupon is used (by another order), expired, or does not fit."""

    reason = "coupon_unavailable"


class OrderNotFound(RechargeError):
    reason = "order_not_found"


class PaymentNotMatched(RechargeError):
    """A charge that cannot pay the order it names (no such order of this customer's, or
    another amount or currency): kept all the same, in the customer's wallet (`credited`) or,
    where it cannot go there, for staff."""

    reason = "payment_not_matched"

    def __init__(self, amount: Money, credited: bool) -> None:
        super().__init__(amount.format())
        self.amount = amount
        self.credited = credited


class NotPayable(RechargeError):
    """The order was paid already, expired, or is otherwise past payment."""

    reason = "not_payable"

    def __init__(self, order: Order) -> None:
        super().__init__(order.status)
        self.order = order


class PaymentStarted(RechargeError):
    """A payment of the order has started: its price and terms can no longer change."""

    reason = "payment_started"

    def __init__(self, order: Order) -> None:
        super().__init__(order.status)
        self.order = order


class OrderChanged(RechargeError):
    """The order changed (another tap, or its payment started) while this change was being
    made: nothing was changed by it; `order` is the order as it is now."""

    reason = "order_changed"

    def __init__(self, order: Order) -> None:
        super().__init__(order.status)
        self.order = order


class MethodNotOffered(RechargeError):
    reason = "method_not_offered"


class InsufficientBalance(RechargeError):
    reason = "insufficient_balance"

    def __init__(self, balance: Money, needed: Money) -> None:
        super().__init__(f"{balance} < {needed}")
        self.balance = balance
        self.needed = needed


class PaymentDeclined(RechargeError):
    reason = "payment_declined"


class PaymentUnconfirmed(RechargeError):
    reason = "payment_unconfirmed"


@dataclass(frozen=True)
class RechargeConfig:
    limits: RechargeLimits
    payment_window: timedelta = timedelta(minutes=15)
    # How long to wait before asking the carrier gateway again about a pending top-up.
    recheck_after: timedelta = timedelta(seconds=30)
    methods: tuple[PaymentMethod, ...] = (PaymentMethod.WALLET,)
    served_carriers: frozenset[Carrier] = frozenset(Carrier)


def product_of(row: ProductRow | Record) -> Product:
    return Product(
        id=row.id,
        kind=ProductKind(row.kind),
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        price=Money(row.price_fen, row.currency),
        face_value=Money(row.face_value_fen, row.currency),
        data_mb=row.data_mb,
        validity_days=row.validity_days,
        carriers=frozenset(Carrier(c) for c in row.carriers.split(",") if c),
    )


def order_of(row: OrderRow | Record) -> Order:
    return Order(
        id=row.id,
        customer_id=row.customer_id,
        purpose=OrderPurpose(row.purpose),
        status=OrderStatus(row.status),
        amount=Money(row.amount_fen, row.currency),
        created_at=row.created_at,
        expires_at=row.expires_at,
        chat_id=row.chat_id,
        phone_digits=row.phone_digits,
        carrier=Carrier(row.carrier) if row.carrier else None,
        product_id=row.product_id,
        product_kind=ProductKind(row.product_kind) if row.product_kind else None,
        product_name_zh=row.product_name_zh,
        product_name_en=row.product_name_en,
        payment_method=PaymentMethod(row.payment_method) if row.payment_method else None,
        failure_reason=row.failure_reason,
        completed_at=row.completed_at,
        quote=quote_from_json(row.quote) if row.quote else None,
        bundle=bundle_of(row),
    )


def bundle_of(row: OrderRow | Record) -> BundledPack | None:
    if row.bundle_product_id is None or row.bundle_product_code is None:
        return None
    return BundledPack(
        product_id=row.bundle_product_id,
        code=row.bundle_product_code,
        name_zh=row.bundle_name_zh or "",
        name_en=row.bundle_name_en or "",
        price=Money(row.bundle_price_fen or 0, row.currency),
    )


def invoice_payload(order: Order) -> str:
    return f"order:{order.id}"


def order_id_from_payload(payload: str) -> int | None:
    """The order an invoice payload names, or None when it names none the database could hold."""
    prefix, _, value = payload.partition(":")
    return parse_id(value) if prefix == "order" else None


def order_id_from_number(number: str) -> int | None:
    """The id in an order number (`R` + the China date + the id, see `Order.number`)."""
    if len(number) < 15 or not number.startswith("R"):
        return None
    return parse_id(number[9:].lstrip("0") or "0")


def _takes_bundle(row: OrderRow | Record) -> bool:
    """An unpaid call-credit recharge without a pack yet may take one."""
    return (
        row.purpose == OrderPurpose.RECHARGE.value
        and row.status in PAYABLE_VALUES
        and row.product_kind == ProductKind.CREDIT.value
        and bool(row.carrier)
        and row.bundle_product_id is None
    )


def _change_of(
    row: Record, quote: Quote, list_price: Money, coupon_code: str | None
) -> OrderChange:
    """The order `row` at the `quote`d price, keeping its data pack; the coupon stays only
    while the quote still takes it."""
    coupon = any(b.kind is OfferKind.COUPON for b in quote.benefits)
    return OrderChange(
        amount_fen=quote.price.fen,
        list_price_fen=list_price.fen,
        quote=quote_json(quote),
        coupon_code=coupon_code if coupon else None,
        bundle_product_id=row.bundle_product_id,
        bundle_product_code=row.bundle_product_code,
        bundle_name_zh=row.bundle_name_zh,
        bundle_name_en=row.bundle_name_en,
        bundle_price_fen=row.bundle_price_fen,
    )


def _credit_price(row: OrderRow | Record) -> Money:
    """The call credit's list price alone (the list price less any bundled pack)."""
    return Money((row.list_price_fen or row.amount_fen) - (row.bundle_price_fen or 0), row.currency)


def _bundle_saving(benefits: Sequence[Benefit]) -> Money:
    return sum((b.discount for b in benefits if b.kind is OfferKind.BUNDLE), Money(0))


class RechargeService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        config: RechargeConfig,
        providers: Mapping[PaymentMethod, PaymentProvider],
        gateway: TopUpGateway,
        clock: Clock = utc_now,
        loyalty: LoyaltyService | None = None,
    ) -> None:
        self._uow = uow
        self.config = config
        self._providers = providers
        self._gateway = gateway
        self._clock = clock
        self._loyalty = loyalty

    # -- catalogue ----------------------------------------------------------------------------
    async def products(self, kind: ProductKind, carrier: Carrier | None = None) -> list[Product]:
        async with self._uow.read() as uow:
            found = [product_of(row) for row in await uow.products.active(kind.value)]
        return [p for p in found if carrier is None or p.serves(carrier)]

    def methods_for(self, purpose: OrderPurpose) -> tuple[PaymentMethod, ...]:
        """The wallet cannot top itself up; every other configured method pays for anything."""
        if purpose is OrderPurpose.REWARD:
            return ()  # paid with points when it is redeemed
        if purpose is OrderPurpose.WALLET_TOPUP:
            return tuple(m for m in self.config.methods if m is not PaymentMethod.WALLET)
        return self.config.methods

    # -- creating orders ----------------------------------------------------------------------
    async def create_order(
        self,
        customer_id: int,
        chat_id: int,
        number: PhoneNumber,
        product_id: int,
        coupon_code: str | None = None,
    ) -> Order:
        """A new order at the catalogue's price now (never a price from a button), less what
        the live offers take off; the quote of offers is kept with the order."""
        if number.carrier not in self.config.served_carriers:
            raise CarrierNotServed(number.carrier)
        now = self._clock()
        async with self._uow() as uow:
            row = await uow.products.get(product_id)
            if row is None or not row.active:
                raise ProductUnavailable(product_id)
            product = product_of(row)
            if not product.serves(number.carrier):
                raise CarrierNotServed(number.carrier)
            quote = None
            price = product.price
            if self._loyalty is not None:
                quote = await self._loyalty.quote_in(
                    uow,
                    customer_id,
                    product.price,
                    product.kind,
                    number.carrier,
                    coupon_code=coupon_code,
                )
                price = quote.price
            check_limits(self.config.limits, price)
            order = OrderRow(
                customer_id=customer_id,
                chat_id=chat_id,
                purpose=OrderPurpose.RECHARGE.value,
                status=S.CREATED.value,
                list_price_fen=product.price.fen,
                quote=quote_json(quote) if quote is not None else None,
                coupon_code=coupon_code,
                amount_fen=price.fen,
                currency=product.price.currency,
                phone_digits=number.digits,
                carrier=number.carrier.value,
                product_id=product.id,
                product_kind=product.kind.value,
                product_name_zh=product.name_zh,
                product_name_en=product.name_en,
                created_at=now,
                expires_at=now + self.config.payment_window,
                updated_at=now,
                outcome_notified=False,
            )
            return await self._insert(uow, order)

    async def create_wallet_topup(self, customer_id: int, chat_id: int, amount: Money) -> Order:
        now = self._clock()
        async with self._uow() as uow:
            check_limits(self.config.limits, amount)
            order = OrderRow(
                customer_id=customer_id,
                chat_id=chat_id,
                purpose=OrderPurpose.WALLET_TOPUP.value,
                status=S.CREATED.value,
                amount_fen=amount.fen,
                currency=amount.currency,
                product_name_zh="钱包充值",
                product_name_en="Wallet top-up",
                created_at=now,
                expires_at=now + self.config.payment_window,
                updated_at=now,
                outcome_notified=False,
            )
            return await self._insert(uow, order)

    async def apply_coupon(self, customer_id: int, order_id: int, code: str) -> Order:
        """The unpaid order, in place, at the coupon's price (same number), or a refusal."""
        code = code.strip().upper()
        async with self._uow() as uow:
            row = await self._own_unpaid(uow, customer_id, order_id)
            if row.product_kind is None or not row.carrier:
                raise NotPayable(order_of(row))
            since = self._clock() - COUPON_WINDOW
            if await uow.orders.events_since(customer_id, COUPON_REJECTED, since) >= COUPON_MISSES:
                raise CouponThrottled(code)
            if self._loyalty is None:
                raise CouponInvalid(code)
            list_price = Money(row.list_price_fen or row.amount_fen, row.currency)
            quote = await self._loyalty.quote_in(
                uow,
                customer_id,
                list_price,
                ProductKind(row.product_kind),
                Carrier(row.carrier),
                coupon_code=code,
                bundle_with=row.bundle_product_code,
            )
            if not any(b.kind is OfferKind.COUPON for b in quote.benefits):
                await uow.orders.record(
                    row.id, row.status, row.status, COUPON_REJECTED, self._clock()
                )
                await uow.commit()
                raise CouponInvalid(code)
            change = _change_of(row, quote, list_price, coupon_code=code)
            return await self._change(uow, row, change, f"coupon {code}")

    # -- bundles: call credit together with a data pack at the bundle price -------------------
    async def bundle_for(self, customer_id: int, order_id: int) -> BundleChoice | None:
        """The data pack a live bundle offer would add to this unpaid call-credit order, with
        what it adds to the price and what it saves (the engine's quote); None when none."""
        if self._loyalty is None:
            return None
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id or row.carrier is None:
                return None
            if not _takes_bundle(row):
                return None
            best: BundleChoice | None = None
            for pack in await self._bundle_packs(uow, Carrier(row.carrier)):
                quote = await self._bundle_quote(uow, row, pack)
                saving = _bundle_saving(quote.benefits)
                if saving.is_positive and (best is None or saving > best.saving):
                    extra = quote.price - Money(row.amount_fen, row.currency)
                    best = BundleChoice(pack, extra, saving)
            return best

    async def add_bundle(self, customer_id: int, order_id: int, pack_id: int) -> Order:
        """The unpaid call-credit order, in place (same number), with the data pack added at
        the catalogue's prices less what the live offers take off, or a refusal."""
        async with self._uow() as uow:
            row = await self._own_unpaid(uow, customer_id, order_id)
            pack_row = await uow.products.get(pack_id)
            if self._loyalty is None or not _takes_bundle(row) or pack_row is None:
                raise BundleUnavailable(pack_id)
            pack = product_of(pack_row)
            if not pack_row.active or pack.kind is not ProductKind.DATA:
                raise BundleUnavailable(pack_id)
            if row.carrier is None or not pack.serves(Carrier(row.carrier)):
                raise BundleUnavailable(pack_id)
            quote = await self._bundle_quote(uow, row, pack)
            if not _bundle_saving(quote.benefits).is_positive:
                raise BundleUnavailable(pack_id)
            change = replace(
                _change_of(row, quote, _credit_price(row) + pack.price, row.coupon_code),
                bundle_product_id=pack.id,
                bundle_product_code=pack.code,
                bundle_name_zh=pack.name_zh,
                bundle_name_en=pack.name_en,
                bundle_price_fen=pack.price.fen,
            )
            return await self._change(uow, row, change, f"pack {pack.code} added")

    async def remove_bundle(self, customer_id: int, order_id: int) -> Order:
        """The unpaid bundle order, in place (same number), for the call credit alone."""
        async with self._uow() as uow:
            row = await self._own_unpaid(uow, customer_id, order_id)
            if self._loyalty is None or row.bundle_product_id is None or not row.carrier:
                raise BundleUnavailable(order_id)
            credit = _credit_price(row)
            quote = await self._loyalty.quote_in(
                uow,
                customer_id,
                credit,
                ProductKind.CREDIT,
                Carrier(row.carrier),
                coupon_code=row.coupon_code,
            )
            change = replace(
                _change_of(row, quote, credit, row.coupon_code),
                bundle_product_id=None,
                bundle_product_code=None,
                bundle_name_zh=None,
                bundle_name_en=None,
                bundle_price_fen=None,
            )
            return await self._change(uow, row, change, f"pack {row.bundle_product_code} removed")

    async def _change(self, uow: UnitOfWork, row: Record, change: OrderChange, cause: str) -> Order:
        """Apply `change` to the unpaid order `row` as it was read, and keep it; `OrderChanged`
        when the order changed or its payment started meanwhile (nothing is kept then)."""
        amount = Money(change.amount_fen, row.currency)
        check_limits(self.config.limits, amount)
        before = Money(row.amount_fen, row.currency).format()
        changed = await uow.orders.change_unpaid(
            row,
            change,
            f"{cause}: {before} -> {amount.format()}",
            self._clock(),
            self.config.limits.daily.fen,
        )
        if changed is None:
            raise OrderChanged(await self._reload(uow, row.id))
        await uow.commit()
        return order_of(changed)

    async def _own_unpaid(self, uow: UnitOfWork, customer_id: int, order_id: int) -> Record:
        """The customer's order that may still change: new, no payment started, in its
        payment window."""
        row = await uow.orders.get(order_id)
        if row is None or row.customer_id != customer_id:
            raise OrderNotFound(order_id)
        if row.status not in PAYABLE_VALUES:
            raise NotPayable(order_of(row))
        if self._clock() >= row.expires_at:
            raise NotPayable(replace(order_of(row), status=S.EXPIRED))
        if row.status != S.CREATED.value:
            raise PaymentStarted(order_of(row))
        return row

    async def _bundle_packs(self, uow: UnitOfWork, carrier: Carrier) -> list[Product]:
        """The data packs that live bundle offers name, from the catalogue, for this carrier."""
        codes = sorted(
            {
                code
                for _, offers in await uow.campaigns.live(self._clock())
                for offer in offers
                if offer.kind == OfferKind.BUNDLE.value
                and (code := offer_of(offer).bundle_product) is not None
            }
        )
        packs = []
        for code in codes:
            found = await uow.products.by_code(code)
            if found is not None and found.active and found.kind == ProductKind.DATA.value:
                pack = product_of(found)
                if pack.serves(carrier):
                    packs.append(pack)
        return packs

    async def _bundle_quote(self, uow: UnitOfWork, row: OrderRow | Record, pack: Product) -> Quote:
        assert self._loyalty is not None and row.carrier
        return await self._loyalty.quote_in(
            uow,
            row.customer_id,
            _credit_price(row) + pack.price,
            ProductKind.CREDIT,
            Carrier(row.carrier),
            coupon_code=row.coupon_code,
            bundle_with=pack.code,
        )

    async def repeat(self, customer_id: int, chat_id: int, order_id: int) -> Order:
        """ "Recharge again": a new order for the same number and product, at today's price."""
        previous = await self.order_for(customer_id, order_id)
        if previous.purpose is OrderPurpose.WALLET_TOPUP:
            return await self.create_wallet_topup(customer_id, chat_id, previous.amount)
        if previous.product_id is None or previous.phone_digits is None or not previous.carrier:
            raise ProductUnavailable(order_id)
        if "*" in previous.phone_digits:  # the number was erased with the customer's data
            raise OrderNotFound(order_id)
        number = PhoneNumber(previous.phone_digits, previous.carrier)
        return await self.create_order(customer_id, chat_id, number, previous.product_id)

    async def _insert(self, uow: UnitOfWork, row: OrderRow) -> Order:
        await uow.orders.add(row, "customer", self.config.limits.daily.fen)
        await uow.commit()
        return order_of(row)

    # -- reading ------------------------------------------------------------------------------
    async def order_for(self, customer_id: int, order_id: int) -> Order:
        """The customer's own order; another customer's id is 'not found', never shown."""
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id:
                raise OrderNotFound(order_id)
            return order_of(row)

    async def orders_of(self, customer_id: int, limit: int = 10) -> list[Order]:
        async with self._uow.read() as uow:
            return [order_of(row) for row in await uow.orders.of_customer(customer_id, limit)]

    async def history(self, order_id: int) -> list[tuple[str | None, str, str]]:
        async with self._uow.read() as uow:
            return [
                (e.from_status, e.to_status, e.cause) for e in await uow.orders.events(order_id)
            ]

    async def get(self, order_id: int) -> Order:
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None:
                raise OrderNotFound(order_id)
            return order_of(row)

    # -- paying -------------------------------------------------------------------------------
    async def pay_with_wallet(self, customer_id: int, order_id: int) -> Order:
        """Debit the wallet, mark the order paid and sent to the carrier in one transaction,
        then top up."""
        if PaymentMethod.WALLET not in self.methods_for(OrderPurpose.RECHARGE):
            raise MethodNotOffered(PaymentMethod.WALLET)
        now = self._clock()
        async with self._uow() as uow:
            order = await self._own_payable(uow, customer_id, order_id, PaymentMethod.WALLET)
            await self._take_reward_coupon(uow, customer_id, order.id)
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
                balance = await uow.wallets.balance(customer_id)
                raise InsufficientBalance(Money(balance, price.currency), price)
            try:
                carried = await self._carry_on(uow, moved)
                await uow.commit()
            except RecordConflict as error:
                raise NotPayable(order) from error
        return await self._top_up(carried) if carried else await self.fulfil(order.id)

    async def pay_with_provider(
        self, customer_id: int, order_id: int, method: PaymentMethod
    ) -> Order:
        """Charge through an external provider (idempotent per order), then top up."""
        provider = self._providers.get(method)
        if provider is None or method not in self.config.methods:
            raise MethodNotOffered(method)
        order = await self._await_payment(customer_id, order_id, method)
        result = await provider.charge(order)
        if result.outcome is ChargeOutcome.DECLINED:
            await self._note(order.id, S.AWAITING_PAYMENT, f"declined: {result.reason or ''}")
            raise PaymentDeclined(result.reason)
        if result.outcome is ChargeOutcome.UNKNOWN:
            await self._note(order.id, S.AWAITING_PAYMENT, "charge unconfirmed")
            raise PaymentUnconfirmed(order.id)
        settled = await self.settle(order.id, method, result.reference)
        return await self._top_up(settled) if settled else await self.fulfil(order.id)

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
                payment = self._payment(PaymentMethod.TELEGRAM, provider_charge_id)
                payment.order_id, payment.telegram_charge_id = order.id, charge_id
                payment.amount_fen, payment.currency = total_fen, currency  # what was charged
                await uow.payments.add(payment)
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
        return await self.fulfil(order.id) if moved else await self.get(order.id)

    async def _keep_unmatched(
        self,
        uow: UnitOfWork,
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
            sent = await self._send_at_once(uow, moved)
            await uow.commit()
        if sent is not None:
            return order_of(sent)
        # Kept paid: should the process stop here, recovery carries the order on.
        async with self._uow() as uow:
            carried = await self._carry_on(uow, moved)
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
            carried = await self._carry_on(uow, row)
            if carried is None:
                return await self._reload(uow, order.id)  # another worker is on it
            await uow.commit()
        return await self._top_up(carried)

    async def _carry_on(self, uow: UnitOfWork, row: Record) -> Order | None:
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
        held = await self._loyalty.hold(uow, sent) if self._loyalty is not None else None
        return replace(order_of(sent), quote=held) if held is not None else order_of(sent)

    async def _send_at_once(self, uow: UnitOfWork, row: Record) -> Record | None:
        """Right after an order was paid (`row`): a recharge is sent to the carrier at once,
        with its quote now, taking the slots of the offers it gets in the same write (on
        PostgreSQL one statement, with no transaction around it). The order's row as sent,
        or None when it was not: it is no recharge, another worker moved it first, or a slot
        was gone (the slots it took stay held); `_carry_on` in a transaction then finds out
        which, and re-quotes without what is gone."""
        if row.purpose != OrderPurpose.RECHARGE.value or row.reward_coupon_id is not None:
            return None  # a customer's own coupon is taken by `_carry_on`
        quote = await self._loyalty.quote_of(uow, row) if self._loyalty is not None else None
        claims = []
        if self._loyalty is not None and quote is not None and quote.benefits:
            claims = list((await self._loyalty.slot_claims(uow, row, quote)).values())
        held = quote_json(quote) if quote is not None else row.quote
        try:
            return await self._send_to_carrier(
                uow, row.id, held if held != row.quote else None, claims
            )
        except RecordConflict:  # another worker claimed for this order at the same moment
            return None

    async def _send_to_carrier(
        self,
        uow: UnitOfWork,
        order_id: int,
        quote: dict[str, Any] | None = None,
        claims: Sequence[SlotClaim] = (),
    ) -> Record | None:
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

    async def _top_up(self, order: Order) -> Order:
        """After `_carry_on` committed: a recharge sent to the carrier is submitted to it."""
        if order.status is not S.TOPPING_UP:
            return order
        return await self._apply(order, await self._ask_gateway(order, submit=True))

    async def refresh(self, order_id: int) -> Order:
        """Ask again about an order in flight ("check status" and the recovery sweep)."""
        order = await self.get(order_id)
        if order.status is S.PAID:
            return await self.fulfil(order_id)
        if order.status is S.TOPPING_UP:
            return await self._apply(order, await self._ask_gateway(order, submit=False))
        if order.status is S.FAILED:
            return await self.refund(order_id)
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
        if result.state is TopUpState.COMPLETED:
            return await self._complete(order, result.reference)
        async with self._uow() as uow:
            if result.state is TopUpState.FAILED:
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
            else:
                sent = await uow.orders.get(order.id)  # moved to topping up when sent
                since_sent = now - sent.updated_at if sent is not None else timedelta(0)
                await uow.orders.set_values(
                    order.id,
                    next_check_at=now + recheck_delay(since_sent, self.config.recheck_after),
                    gateway_reference=result.reference,
                )
            await uow.commit()
        if result.state is TopUpState.FAILED:
            return await self.refund(order.id)
        return await self.get(order.id)

    async def _complete(self, order: Order, reference: str | None) -> Order:
        """topping up -> completed, with what the order is granted (its quote is fixed once
        it is paid): one write, on PostgreSQL one statement with its history row."""
        grant = self._loyalty.grant_of(order.id, order.quote) if self._loyalty else None
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
        order = await self.get(order_id)
        if order.status is not S.FAILED:
            return order
        async with self._uow() as uow:
            payment = await uow.payments.of_order(order_id)
        method = PaymentMethod(payment.method) if payment else None
        provider = self._providers.get(method) if method else None
        route = "wallet"
        if provider is not None and payment is not None:
            if not await provider.refund(order, payment.reference):
                log.error("provider refund of %s failed; will retry", order.number)
                return order
            route = "provider"
        now = self._clock()
        async with self._uow() as uow:
            if not await self._move(uow, order_id, (S.FAILED,), S.REFUNDED, f"refunded to {route}"):
                return await self._reload(uow, order_id)
            if payment is not None:
                await uow.payments.mark_refunded(order_id, now, route)
                if route == "wallet":
                    await uow.wallets.post(
                        order.customer_id,
                        payment.amount_fen,
                        payment.currency,
                        "refund",
                        f"refund:{order_id}",
                        now,
                        order_id,
                    )
            await uow.commit()
        return await self.get(order_id)

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
        async with self._uow() as uow:
            due = await uow.orders.in_flight(now, statuses, limit)
        moved: list[Order] = []
        for order_id in due:
            before = await self.get(order_id)
            after = await self.refresh(order_id)
            if after.status is not before.status:
                moved.append(after)
        await self._poll_providers()
        return moved

    async def _poll_providers(self) -> None:
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
                    await self._top_up(settled)

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

    # -- helpers ------------------------------------------------------------------------------
    async def _await_payment(self, customer_id: int, order_id: int, method: PaymentMethod) -> Order:
        check_transition(S.CREATED, S.AWAITING_PAYMENT)
        async with self._uow() as uow:  # before any money moves
            await self._take_reward_coupon(uow, customer_id, order_id)
            await uow.commit()
        purposes = [p.value for p in OrderPurpose if method in self.methods_for(p)]
        started = None
        if purposes:
            async with self._uow() as uow:
                started = await uow.orders.start_payment(
                    order_id, customer_id, purposes, method.value, f"pay by {method}", self._clock()
                )
                await uow.commit()
        if started is not None:
            return order_of(started)
        # Not a new order of this customer's that the method pays: the checks below say why,
        # or the order already awaits payment (paid again, perhaps another way).
        async with self._uow() as uow:
            order = await self._own_payable(uow, customer_id, order_id, method)
            if order.status is S.CREATED:
                moved = await self._move(
                    uow,
                    order.id,
                    (S.CREATED,),
                    S.AWAITING_PAYMENT,
                    f"pay by {method}",
                    payment_method=method.value,
                )
            else:
                await uow.orders.set_values(order.id, payment_method=method.value)
                moved = await uow.orders.get(order.id)
            if moved is None:
                raise NotPayable(await self._reload(uow, order.id))
            await uow.commit()
            return replace(order, status=S.AWAITING_PAYMENT, payment_method=method)

    async def _take_reward_coupon(self, uow: UnitOfWork, customer_id: int, order_id: int) -> None:
        """An order priced with the customer's own coupon takes it before it is paid (a
        conditional write; given back if the order expires or is refunded): of two orders paid
        at once with one coupon, the other is refused before any money moves."""
        row = await uow.orders.get(order_id)
        if self._loyalty is None or row is None or row.customer_id != customer_id:
            return
        if row.status in PAYABLE_VALUES and not await self._loyalty.take_reward_coupon(uow, row):
            raise CouponUnavailable(order_id)

    async def _own_payable(
        self, uow: UnitOfWork, customer_id: int, order_id: int, method: PaymentMethod
    ) -> Order:
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
        return order

    async def _move(
        self,
        uow: UnitOfWork,
        order_id: int,
        sources: frozenset[OrderStatus] | tuple[OrderStatus, ...],
        target: OrderStatus,
        cause: str,
        *,
        payment: PaymentRow | None = None,
        grant: Grant | None = None,
        claims: Sequence[SlotClaim] = (),
        **values: object,
    ) -> Record | None:
        """The one way an order changes state: a legal transition, applied conditionally.
        The order's row after the move, or None when it was not moved. A move to paid keeps
        its `payment` with it; a move to completed carries what the order is `grant`ed
        (`LoyaltyService.grant_of`, else it is granted after the move); a move may take the
        slots of its offers (`claims`), and happens only if it got them all.

        The order's offers move with it, in the same transaction: their slots are granted when
        it completes and given back when it expires or is refunded (they are claimed when it
        is sent to the carrier, `_carry_on`).
        """
        for source in sources:
            check_transition(source, target)
        moved = await uow.orders.move(
            order_id,
            sorted(s.value for s in sources),
            target.value,
            cause[:64],
            self._clock(),
            payment=payment,
            grant=grant,
            claims=claims,
            **values,
        )
        if moved is not None and self._loyalty is not None:
            if target is S.COMPLETED and grant is None:
                await self._loyalty.grant(uow, moved)
            elif target in (S.EXPIRED, S.REFUNDED):
                await self._loyalty.release(uow, order_id)
        return moved

    async def _note(self, order_id: int, status: OrderStatus, cause: str) -> None:
        async with self._uow() as uow:
            await uow.orders.record(order_id, status.value, status.value, cause[:64], self._clock())
            await uow.commit()

    @staticmethod
    async def _reload(uow: UnitOfWork, order_id: int) -> Order:
        row = await uow.orders.get(order_id)
        assert row is not None
        return order_of(row)

    def _payment(self, method: PaymentMethod, reference: str | None) -> PaymentRow:
        """A payment captured now; its order, amount and currency are set where it is kept."""
        return PaymentRow(method=method.value, reference=reference, captured_at=self._clock())
