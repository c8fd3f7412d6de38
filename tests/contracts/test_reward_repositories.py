"""Rewards (their stock), redemptions (one per request) and the coupons redeemed (each taken by
one order): the contract held by the fake, SQLite and PostgreSQL alike, races included."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.errors import RecordConflict
from domain.repositories.money import NewRedemption, NewRewardCoupon
from tests.contracts.conftest import NOW, World
from tests.contracts.money import a_reward, member, recharged, reward


async def take_stock(world: World, reward_id: int) -> bool:
    async with world.money() as uow:
        taken = await uow.rewards.take_stock(reward_id)
        await uow.commit()
    return taken


async def test_rewards_are_offered_cheapest_first_and_stock_is_never_exceeded(
    world: World,
) -> None:
    dear = await reward(world, a_reward("dear", stock=1, cost_points=500))
    cheap = await reward(world, a_reward("cheap", cost_points=50))
    async with world.money.read() as uow:
        assert [r.code for r in await uow.rewards.active()] == ["cheap", "dear"]
        read = await uow.rewards.get(dear)
        assert await uow.rewards.get(dear + cheap + 100) is None
    assert read is not None
    assert (read.kind, read.cost_points, read.stock, read.redeemed, read.active) == (
        "coupon",
        500,
        1,
        0,
        True,
    )
    assert (read.value_fen, read.valid_days, read.product_code) == (500, 30, None)
    assert await take_stock(world, dear)
    assert not await take_stock(world, dear)
    assert all([await take_stock(world, cheap) for _ in range(3)])  # no stock: no limit
    async with world.money() as uow:
        await uow.rewards.give_back_stock(dear)
        await uow.rewards.give_back_stock(dear)  # never below none redeemed
        await uow.commit()
    assert await take_stock(world, dear)
    async with world.money.read() as uow:
        read = await uow.rewards.get(dear)
    assert read is not None and read.redeemed == 1


async def test_of_redemptions_at_once_only_the_stock_left_is_taken(world: World) -> None:
    scarce = await reward(world, a_reward("scarce", stock=2))
    taken = await asyncio.gather(*(take_stock(world, scarce) for _ in range(6)))
    assert sum(taken) == 2


async def test_a_redemption_is_kept_once_per_request(world: World) -> None:
    gift = await reward(world, a_reward("gift"))
    me = await member(world)
    order = await recharged(world, me, 1000, NOW)
    async with world.money() as uow:
        uow.rewards.add_redemption(NewRedemption(gift, me, 100, "tap-1", NOW, order))
        await uow.commit()
    async with world.money.read() as uow:
        kept = await uow.rewards.redemption("tap-1")
        assert await uow.rewards.redemption_of_order(order) == kept
        assert await uow.rewards.redemption("tap-2") is None
        assert await uow.rewards.redemption_of_order(order + 1) is None
    assert kept is not None
    assert (kept.reward_id, kept.customer_id, kept.points, kept.at) == (gift, me, 100, NOW)
    with pytest.raises(RecordConflict):
        async with world.money() as uow:
            uow.rewards.add_redemption(NewRedemption(gift, me, 100, "tap-1", NOW))
            await uow.commit()


def a_coupon(customer_id: int, key: str, days: int = 30) -> NewRewardCoupon:
    return NewRewardCoupon(
        customer_id=customer_id,
        redemption_key=key,
        reward_code="coupon-5",
        name_zh="5元券",
        name_en="¥5 coupon",
        value_fen=500,
        currency="CNY",
        created_at=NOW,
        expires_at=NOW + timedelta(days=days),
    )


async def coupon(world: World, new: NewRewardCoupon) -> int:
    async with world.money() as uow:
        uow.reward_coupons.add_coupon(new)
        await uow.commit()
    async with world.money.read() as uow:
        kept = await uow.reward_coupons.by_key(new.redemption_key)
    assert kept is not None
    return kept.id


async def take(
    world: World, coupon_id: int, customer_id: int, order_id: int, days: int = 0
) -> bool:
    async with world.money() as uow:
        taken = await uow.reward_coupons.take(
            coupon_id, customer_id, order_id, NOW + timedelta(days=days)
        )
        await uow.commit()
    return taken


async def test_a_coupon_is_taken_by_one_order_of_its_owner_before_it_expires(
    world: World,
) -> None:
    me, other = await member(world), await member(world)
    first, second = await recharged(world, me, 1000, NOW), await recharged(world, me, 1000, NOW)
    later = await coupon(world, a_coupon(me, "r1", days=30))
    sooner = await coupon(world, a_coupon(me, "r2", days=10))
    async with world.money.read() as uow:
        usable = await uow.reward_coupons.usable(me, NOW)
        read = await uow.reward_coupons.get(later)
        assert await uow.reward_coupons.usable(other, NOW) == []
        assert [c.id for c in await uow.reward_coupons.usable(me, NOW + timedelta(days=10))] == [
            later
        ]
    assert [c.id for c in usable] == [sooner, later]
    assert read is not None
    assert (read.customer_id, read.value_fen, read.currency, read.order_id, read.used_at) == (
        me,
        500,
        "CNY",
        None,
        None,
    )
    assert not await take(world, later, other, first)  # not theirs
    assert not await take(world, sooner, me, first, days=10)  # expired
    assert await take(world, later, me, first)
    assert await take(world, later, me, first)  # it has it already
    assert not await take(world, later, me, second)
    async with world.money.read() as uow:
        taken = await uow.reward_coupons.get(later)
        assert [c.id for c in await uow.reward_coupons.usable(me, NOW)] == [sooner]
    assert taken is not None and (taken.order_id, taken.used_at) == (first, NOW)
    async with world.money() as uow:
        await uow.reward_coupons.give_back(first)
        await uow.commit()
    assert await take(world, later, me, second)


async def test_a_coupon_is_kept_once_per_redemption(world: World) -> None:
    me = await member(world)
    await coupon(world, a_coupon(me, "r1"))
    with pytest.raises(RecordConflict):
        await coupon(world, a_coupon(me, "r1"))


async def test_of_orders_taking_one_coupon_at_once_one_gets_it(world: World) -> None:
    me = await member(world)
    orders = [await recharged(world, me, 1000, NOW) for _ in range(5)]
    mine = await coupon(world, a_coupon(me, "r1"))
    taken = await asyncio.gather(*(take(world, mine, me, order) for order in orders))
    assert sum(taken) == 1
