"""A coupon redeemed with points is used once, on SQLite and PostgreSQL: two orders paid at once
with the same coupon, exactly one gets the discount; an order that fails or lapses gives it
back; an expired coupon fits no order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import parse_campaign_file
from domain.campaigns import REWARD_COUPON_CAMPAIGN
from domain.customers import Customer
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod
from domain.phone import parse_phone_number
from domain.services.recharge import CouponUnavailable, NotPayable
from tests.integration.test_money_limits import TOP_UP_TAKES, World

REWARD = """
[[rewards]]
code = "coupon-5"
kind = "coupon"
name_zh = "5元充值抵用券"
name_en = "¥5 recharge coupon"
cost_points = 50
value_yuan = 5
valid_days = 30
"""
FAILS = parse_phone_number("18612340000")  # the sandbox carrier fails numbers ending in 0000


def _discounted(order: Order) -> bool:
    return order.quote is not None and any(
        b.campaign == REWARD_COUPON_CAMPAIGN and b.discount == Money.yuan(5)
        for b in order.quote.benefits
    )


async def _with_coupon(world: World) -> tuple[Customer, int]:
    await world.services.campaigns.load(parse_campaign_file(REWARD))
    return await _with_coupon_for(world)


async def _with_coupon_for(world: World, telegram_id: int = 1) -> tuple[Customer, int]:
    """A customer who earned 100 points and redeemed 50 of them for a ¥5 coupon."""
    customer = await world.customer(telegram_id)
    await world.pay_all_at_once(customer, [await world.order(customer, 100)])
    (reward,) = await world.services.rewards.rewards()
    redeemed = await world.services.rewards.redeem(customer.id, reward.id, f"tap-{telegram_id}")
    assert redeemed.coupon is not None and redeemed.coupon.value == Money.yuan(5)
    assert await world.services.rewards.coupons(customer.id) == [redeemed.coupon]
    return customer, redeemed.coupon.id


@pytest.mark.parametrize("method", [PaymentMethod.SANDBOX, PaymentMethod.WALLET])
async def test_two_orders_paid_at_once_with_one_coupon_exactly_one_gets_the_discount(
    engine: AsyncEngine, method: PaymentMethod
) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    customer, coupon_id = await _with_coupon(world)
    coupons = world.services.coupons
    if method is PaymentMethod.WALLET:
        topup = await world.services.ordering.create_wallet_topup(customer.id, 1, Money.yuan(200))
        await world.services.paying.pay_with_provider(customer.id, topup.id, PaymentMethod.SANDBOX)
    wallet_before = await world.services.wallet.balance(customer.id)
    orders = [await world.order(customer, 50) for _ in range(2)]
    priced = [await coupons.use(customer.id, order.id, coupon_id) for order in orders]
    assert [order.amount for order in priced] == [Money.yuan(45)] * 2  # as offered

    def pay(order: Order) -> Awaitable[Order]:
        if method is PaymentMethod.WALLET:
            return world.services.paying.pay_with_wallet(customer.id, order.id)
        return world.services.paying.pay_with_provider(customer.id, order.id, method)

    outcomes = await asyncio.gather(*(pay(order) for order in priced), return_exceptions=True)

    paid = [o for o in outcomes if isinstance(o, Order)]
    refused = [o for o in outcomes if isinstance(o, CouponUnavailable)]
    assert (len(paid), len(refused)) == (1, 1), outcomes
    world.clock.now += TOP_UP_TAKES
    (done,) = [await world.services.fulfilment.refresh(order.id) for order in paid]
    assert done.status is OrderStatus.COMPLETED and _discounted(done)
    other = next(o for o in priced if o.id != done.id)
    assert (
        await world.services.ordering.get(other.id)
    ).status is not OrderStatus.PAID  # nothing charged
    if method is PaymentMethod.WALLET:
        assert await world.services.wallet.balance(customer.id) == wallet_before - Money.yuan(45)
    assert await world.services.rewards.coupons(customer.id) == []  # used
    third = await world.order(customer, 50)
    assert await coupons.fitting(customer.id, third.id) is None
    with pytest.raises(CouponUnavailable):
        await coupons.use(customer.id, third.id, coupon_id)


async def test_a_failed_top_up_gives_its_coupon_back(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    customer, coupon_id = await _with_coupon(world)
    coupons = world.services.coupons
    pending = await coupons.use(customer.id, (await world.order(customer, 50)).id, coupon_id)
    topping_up = await world.services.paying.pay_with_provider(
        customer.id, pending.id, PaymentMethod.SANDBOX
    )
    assert topping_up.status is OrderStatus.TOPPING_UP and _discounted(topping_up)
    assert await world.services.rewards.coupons(customer.id) == []  # taken by the paid order

    second = await world.order(customer, 50)
    assert await coupons.fitting(customer.id, second.id) is None
    await world.services.paying.cancel(customer.id, second.id)
    # The carrier fails the top-up: the order is refunded and the coupon is the customer's again.
    product_id = await world.product_id(50)
    failing = await world.services.ordering.create_order(customer.id, 1, FAILS, product_id)
    world.clock.now += TOP_UP_TAKES
    assert (await world.services.fulfilment.refresh(pending.id)).status is OrderStatus.COMPLETED
    assert await coupons.fitting(customer.id, failing.id) is None  # used on a completed order

    world2 = World(engine, daily=Money.yuan(100_000))
    other, other_coupon = await _with_coupon_for(world2, telegram_id=2)
    failing = await world2.services.ordering.create_order(other.id, 2, FAILS, product_id)
    failing = await world2.services.coupons.use(other.id, failing.id, other_coupon)
    refunded = await world2.services.paying.pay_with_provider(
        other.id, failing.id, PaymentMethod.SANDBOX
    )
    assert refunded.status is OrderStatus.REFUNDED
    (back,) = await world2.services.rewards.coupons(other.id)
    assert back.id == other_coupon
    again = await world2.order(other, 30)
    fitting = await world2.services.coupons.fitting(other.id, again.id)
    assert fitting is not None and fitting.id == other_coupon


async def test_an_order_that_lapses_unpaid_leaves_the_coupon_free(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    customer, coupon_id = await _with_coupon(world)
    lapsing = await world.order(customer, 50)
    await world.services.coupons.use(customer.id, lapsing.id, coupon_id)
    world.clock.now += timedelta(minutes=30)
    await world.services.fulfilment.expire_due()
    order = await world.order(customer, 50)
    priced = await world.services.coupons.use(customer.id, order.id, coupon_id)
    (done,) = await world.pay_all_at_once(customer, [priced])
    assert done.status is OrderStatus.COMPLETED and _discounted(done)


async def test_a_payment_refused_for_a_lapsed_window_takes_no_coupon(engine: AsyncEngine) -> None:
    """Paying an order priced with the customer's coupon after its payment window lapsed is
    refused with nothing kept: the coupon is not taken by it, before any sweep runs."""
    world = World(engine, daily=Money.yuan(100_000))
    customer, coupon_id = await _with_coupon(world)
    lapsed = await world.order(customer, 50)
    await world.services.coupons.use(customer.id, lapsed.id, coupon_id)
    world.clock.now += timedelta(minutes=30)
    with pytest.raises(NotPayable):
        await world.services.paying.pay_with_provider(customer.id, lapsed.id, PaymentMethod.SANDBOX)
    assert [c.id for c in await world.services.rewards.coupons(customer.id)] == [coupon_id]


async def test_an_expired_coupon_fits_no_order(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    customer, coupon_id = await _with_coupon(world)
    world.clock.now += timedelta(days=31)
    order = await world.order(customer, 50)
    assert await world.services.rewards.coupons(customer.id) == []
    assert await world.services.coupons.fitting(customer.id, order.id) is None
    with pytest.raises(CouponUnavailable):
        await world.services.coupons.use(customer.id, order.id, coupon_id)
