"""A customer's own coupons (redeemed with points) at checkout.

An unpaid recharge order is priced with one of the customer's coupons in place (the same order
number), through the campaign engine's quote, like a coupon benefit. The coupon is taken when
the order is paid, before any money moves (`PaymentService._await_payment`, a conditional
write; `LoyaltyService.hold` confirms it when the paid order is sent to the carrier) and given
back when the order expires or is refunded (`LoyaltyService.release`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain.allowances import daily_scope
from domain.clock import Clock, utc_now
from domain.money import Money
from domain.orders import PAYABLE, Order, OrderPurpose
from domain.orders import OrderStatus as S
from domain.repositories import OrderRecord
from domain.repositories.money import MoneyUnitOfWork, MoneyUnitOfWorkFactory
from domain.services.loyalty import (
    LoyaltyService,
    RewardCoupon,
    priced_with_reward_coupon,
    quote_json,
    reward_coupon_of,
)
from domain.services.recharge import CouponUnavailable, NotPayable, OrderNotFound, order_of

PAYABLE_VALUES = frozenset(s.value for s in PAYABLE)


class CouponCheckout:
    def __init__(
        self, uow: MoneyUnitOfWorkFactory, loyalty: LoyaltyService, clock: Clock = utc_now
    ):
        self._uow = uow
        self._loyalty = loyalty
        self._clock = clock

    async def fitting(self, customer_id: int, order_id: int) -> RewardCoupon | None:
        """The customer's coupon that fits this unpaid recharge order best (the largest that
        leaves something to pay), or None: no coupon, or the order has one already."""
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id:
                return None
            return await fitting_coupon(uow, row, self._clock())

    async def use(self, customer_id: int, order_id: int, coupon_id: int) -> Order:
        """Price the customer's unpaid recharge order with their coupon, in place; or refuse
        (`CouponUnavailable`, `NotPayable`, `OrderNotFound`)."""
        now = self._clock()
        async with self._uow() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id:
                raise OrderNotFound(order_id)
            order = order_of(row)
            if row.status not in PAYABLE_VALUES:
                raise NotPayable(order)
            if now >= row.expires_at:
                raise NotPayable(replace(order, status=S.EXPIRED))
            if not _takes_coupon(row):
                raise CouponUnavailable(order_id)
            coupon = await uow.reward_coupons.get(coupon_id)
            if (
                coupon is None
                or coupon.customer_id != customer_id
                or coupon.order_id is not None
                or coupon.expires_at <= now
                or coupon.currency != row.currency
                or coupon.value_fen >= row.amount_fen
            ):
                raise CouponUnavailable(order_id)
            value = Money(coupon.value_fen, coupon.currency)
            quote = await self._loyalty.quote_of(uow, row, with_coupon=value)
            assert quote is not None  # `_takes_coupon`: a recharge of a product
            moved = await uow.orders.move(
                order_id,
                [row.status],
                row.status,
                "own coupon applied",
                now,
                amount_fen=quote.price.fen,
                quote=quote_json(quote),
                reward_coupon_id=coupon.id,
            )
            if moved is None:
                raise NotPayable(order_of(await uow.orders.get(order_id) or row))
            lower = row.amount_fen - quote.price.fen
            if lower > 0:  # the day's total counts what the order costs now
                scope = daily_scope(row.purpose, row.created_at)
                await uow.allowances.give_back(customer_id, scope, lower)
            await uow.commit()
            return order_of(moved)


async def fitting_coupon(
    uow: MoneyUnitOfWork, row: OrderRecord, now: datetime
) -> RewardCoupon | None:
    """The order's customer's coupon that fits the unpaid recharge order `row` best (the
    largest that leaves something to pay), or None: no coupon, or the order has one already."""
    if not _takes_coupon(row):
        return None
    usable = await uow.reward_coupons.usable(row.customer_id, now)
    fits = [c for c in usable if c.currency == row.currency and c.value_fen < row.amount_fen]
    if not fits:
        return None
    return reward_coupon_of(max(fits, key=lambda c: (c.value_fen, -c.id)))


def _takes_coupon(row: OrderRecord) -> bool:
    """An unpaid recharge of a product not priced with one of the customer's coupons yet."""
    return (
        row.purpose == OrderPurpose.RECHARGE.value
        and row.status in PAYABLE_VALUES
        and row.product_kind is not None
        and bool(row.carrier)
        and (row.reward_coupon_id is None or not priced_with_reward_coupon(row.quote))
    )
