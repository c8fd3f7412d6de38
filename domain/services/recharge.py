"""What the order services share: their refusals, settings, how an order row reads as an
`Order`, and the one way an order changes state (`OrderSteps._move`).

An order's life is four services, each small enough to read at once: `ordering.py` (the
catalogue, a new order, an unpaid order changed in place, reading orders), `paying.py` (each
way to pay, settled once), `fulfilment.py` (the carrier, completion, refunds, expiry and
recovery) and `outcomes.py` (what the customer is told, recorded once delivered).

Every state change is one transaction with a conditional update (`OrderRepository.move`), so a
double tap, a replayed update or a second worker changes nothing twice. Payment providers and
the carrier gateway are asked outside transactions, idempotently per order, and their answers
are applied in a transaction of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.catalogue import Product, ProductKind
from domain.chat_turn_log import note_order
from domain.clock import Clock, utc_now
from domain.limits import parse_id
from domain.money import Money
from domain.observations import UNOBSERVED, Observations
from domain.orders import (
    PAYABLE,
    BundledPack,
    Order,
    OrderPurpose,
    OrderStatus,
    PaymentMethod,
    RechargeLimits,
    check_transition,
)
from domain.phone import Carrier
from domain.repositories import Grant, NewPayment, OrderRecord, ProductRecord, SlotClaim
from domain.repositories.money import MoneyUnitOfWork, MoneyUnitOfWorkFactory
from domain.services.loyalty import LoyaltyService, quote_from_json

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
    """Too many wrong codes lately: coupon entry is closed until `opens_at` (the risk rule
    on coupon guesses). `wrong`: the code just typed was wrong and closed it; `frozen`: the
    rule froze the account as well."""

    reason = "coupon_throttled"

    def __init__(
        self, code: str, opens_at: datetime, *, wrong: bool = False, frozen: bool = False
    ) -> None:
        super().__init__(code)
        self.opens_at = opens_at
        self.wrong = wrong
        self.frozen = frozen


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
    # How long a refund taken on through the payment provider may go unfinished before it is
    # taken on again (a stop between the provider's answer and the order's move).
    refund_claim_timeout: timedelta = timedelta(minutes=10)
    methods: tuple[PaymentMethod, ...] = (PaymentMethod.WALLET,)
    served_carriers: frozenset[Carrier] = frozenset(Carrier)


def product_of(row: ProductRecord) -> Product:
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


def order_of(row: OrderRecord) -> Order:
    """The order of a row; a chat turn that reads or writes it names it in its log lines."""
    order = Order(
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
    note_order(order.number)
    return order


def bundle_of(row: OrderRecord) -> BundledPack | None:
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


class OrderSteps:
    """What every order service shares: its unit of work, settings and clock, reading an
    order, and the one way an order changes state (`_move`)."""

    def __init__(
        self,
        uow: MoneyUnitOfWorkFactory,
        config: RechargeConfig,
        loyalty: LoyaltyService,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self.config = config
        self._clock = clock
        self._loyalty = loyalty
        # What the operators are told as it happens (`domain.observations`).
        self.observed: Observations = UNOBSERVED

    def methods_for(self, purpose: OrderPurpose) -> tuple[PaymentMethod, ...]:
        """The wallet cannot top itself up; every other configured method pays for anything."""
        if purpose is OrderPurpose.REWARD:
            return ()  # paid with points when it is redeemed
        if purpose is OrderPurpose.WALLET_TOPUP:
            return tuple(m for m in self.config.methods if m is not PaymentMethod.WALLET)
        return self.config.methods

    async def get(self, order_id: int) -> Order:
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None:
                raise OrderNotFound(order_id)
            return order_of(row)

    async def _move(
        self,
        uow: MoneyUnitOfWork,
        order_id: int,
        sources: frozenset[OrderStatus] | tuple[OrderStatus, ...],
        target: OrderStatus,
        cause: str,
        *,
        payment: NewPayment | None = None,
        grant: Grant | None = None,
        claims: Sequence[SlotClaim] = (),
        **values: object,
    ) -> OrderRecord | None:
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
        if moved is not None:
            if target is S.COMPLETED and grant is None:
                await self._loyalty.grant(uow, moved)
            elif target in (S.EXPIRED, S.REFUNDED):
                await self._loyalty.release(uow, order_id)
        return moved

    @staticmethod
    async def _reload(uow: MoneyUnitOfWork, order_id: int) -> Order:
        row = await uow.orders.get(order_id)
        assert row is not None
        return order_of(row)

    async def _note(self, order_id: int, status: OrderStatus, cause: str) -> None:
        async with self._uow() as uow:
            await uow.orders.record(order_id, status.value, status.value, cause[:64], self._clock())
            await uow.commit()
