"""A data pack redeemed with points is topped up through the carrier gateway as an order paid by
the points, with its receipt; a failed top-up gives the points back (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import CampaignFileError, parse_campaign_file
from domain.money import Money
from domain.orders import OrderPurpose, OrderStatus, PaymentMethod
from domain.phone import parse_phone_number
from domain.services.loyalty import RedeemRefused
from tests.integration.test_money_limits import NUMBER, TOP_UP_TAKES, World

REWARD = """
[[rewards]]
code = "data-1g"
kind = "data_pack"
name_zh = "1GB流量包（7天）"
name_en = "1 GB data (7 days)"
cost_points = 80
stock = 5
per_customer = 1
product = "data-1g-7d"
"""
FAILS = parse_phone_number("18612340000")  # the sandbox carrier fails numbers ending in 0000


async def _points(world: World) -> tuple[int, int]:
    await world.services.campaigns.load(parse_campaign_file(REWARD))
    customer = await world.customer()
    await world.pay_all_at_once(customer, [await world.order(customer, 100)])  # 100 points
    (reward,) = await world.services.rewards.rewards()
    return customer.id, reward.id


async def test_a_redeemed_data_pack_is_topped_up_to_the_chosen_number(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    customer_id, reward_id = await _points(world)
    rewards = world.services.rewards
    with pytest.raises(RedeemRefused) as refused:
        await rewards.redeem(customer_id, reward_id, "no-number")
    assert refused.value.reason == "number_needed"

    redeemed = await rewards.redeem(customer_id, reward_id, "tap", number=NUMBER, chat_id=1)
    again = await rewards.redeem(customer_id, reward_id, "tap", number=NUMBER, chat_id=1)
    assert redeemed.order_id is not None and again.order_id == redeemed.order_id  # once
    order = await world.services.fulfilment.fulfil(redeemed.order_id)
    assert order.purpose is OrderPurpose.REWARD
    assert order.payment_method is PaymentMethod.POINTS and order.amount == Money(0)
    assert order.phone_digits == NUMBER.digits and order.product_name_zh == "1GB流量包（7天）"
    assert order.status is OrderStatus.TOPPING_UP
    world.clock.now += TOP_UP_TAKES
    assert (await world.services.fulfilment.refresh(order.id)).status is OrderStatus.COMPLETED
    assert await world.services.loyalty.balance(customer_id) == (20, 20)
    assert order.id in [
        o.id for o in await world.services.outcomes.unnotified_outcomes()
    ]  # a receipt


async def test_a_failed_data_pack_top_up_gives_the_points_back(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    customer_id, reward_id = await _points(world)
    rewards = world.services.rewards
    redeemed = await rewards.redeem(customer_id, reward_id, "tap", number=FAILS, chat_id=1)
    assert redeemed.order_id is not None
    assert await world.services.loyalty.balance(customer_id) == (20, 20)
    order = await world.services.fulfilment.fulfil(redeemed.order_id)
    assert order.status is OrderStatus.REFUNDED
    assert await world.services.fulfilment.refresh(order.id) == order  # once
    assert await world.services.loyalty.balance(customer_id) == (100, 100)
    (reward,) = await rewards.rewards()
    assert reward.left == 5  # the stock is back, and so is the customer's one use
    second = await rewards.redeem(customer_id, reward_id, "tap-2", number=NUMBER, chat_id=1)
    assert second.order_id is not None


async def test_a_data_pack_reward_names_a_data_pack_of_the_catalogue(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    for product in ("no-such-pack", "credit-50"):
        with pytest.raises(CampaignFileError, match="is no data pack of the catalogue"):
            await world.services.campaigns.load(
                parse_campaign_file(REWARD.replace("data-1g-7d", product))
            )
    assert await world.services.rewards.rewards() == []  # nothing of it loaded
