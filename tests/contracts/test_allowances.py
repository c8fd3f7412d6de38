"""Customers' allowances (a day's recharge total, an offer's uses per customer): taken within
their limit, on the fake, SQLite and PostgreSQL alike, a count's first use raced too."""

from __future__ import annotations

import asyncio

import pytest

from domain.allowances import Take
from tests.contracts.conftest import World

DAY = "daily:recharge:2026-11-11"


async def take(world: World, customer_id: int, scope: str, amount: int, limit: int) -> bool:
    async with world.money() as uow:
        taken = await uow.allowances.take(customer_id, scope, amount, limit)
        await uow.commit()
    return taken


async def used(world: World, customer_id: int, scope: str) -> int:
    async with world.money.read() as uow:
        return await uow.allowances.used(customer_id, scope)


async def test_orders_placed_at_once_on_a_fresh_day_keep_within_its_limit(world: World) -> None:
    me, other = await world.customer(), await world.customer()
    taken = await asyncio.gather(*(take(world, me, DAY, 300, 1000) for _ in range(8)))
    assert sum(taken) == 3
    assert await used(world, me, DAY) == 900
    # Uneven amounts on another fresh day: what was refused did not fit what was taken.
    amounts = [400, 700, 100, 500, 300, 600, 200, 800]
    taken = await asyncio.gather(*(take(world, other, DAY, amount, 1000) for amount in amounts))
    total = await used(world, other, DAY)
    assert total == sum(amount for amount, ok in zip(amounts, taken, strict=True) if ok) <= 1000
    assert all(total + amount > 1000 for amount, ok in zip(amounts, taken, strict=True) if not ok)


async def test_an_amount_above_the_limit_is_refused_on_first_use_and_takes_nothing(
    world: World,
) -> None:
    me = await world.customer()
    assert not await take(world, me, DAY, 1001, 1000)
    assert await used(world, me, DAY) == 0
    assert await take(world, me, DAY, 0, 1000)  # nothing is always within the limit
    assert await take(world, me, DAY, 1000, 1000)
    assert not await take(world, me, DAY, 1, 1000)
    assert await take(world, me, DAY, 0, 1000)
    assert await take(world, me, "daily:recharge:2026-11-12", 1000, 1000)  # each day its own
    async with world.money() as uow:
        await uow.allowances.give_back(me, DAY, 400)
        await uow.commit()
    assert await used(world, me, DAY) == 600
    assert await take(world, me, DAY, 400, 1000)
    assert not await take(world, me, DAY, 1, 1000)


HOUR, COUNT, AMOUNT = "risk:orders:h:x", "risk:orders:d:x", "risk:amount:h:x"


async def take_each(world: World, customer_id: int, takes: list[Take]) -> set[str]:
    async with world.money() as uow:
        taken = await uow.allowances.take_each(customer_id, takes)
        await uow.commit()
    return taken


async def test_counts_taken_together_are_each_taken_within_their_own_limit(world: World) -> None:
    me, other = await world.customer(), await world.customer()
    assert await take_each(world, me, []) == set()
    order = [Take(HOUR, 1, 2), Take(COUNT, 1, 3), Take(AMOUNT, 600, 1000)]
    assert await take_each(world, me, order) == {HOUR, COUNT, AMOUNT}
    # The amount no longer fits: the others are still taken.
    assert await take_each(world, me, order) == {HOUR, COUNT}
    assert await take_each(world, me, order) == {COUNT}
    assert await take_each(world, me, order) == set()
    assert [await used(world, me, scope) for scope in (HOUR, COUNT, AMOUNT)] == [2, 3, 600]
    assert await take_each(world, other, [Take(AMOUNT, 1001, 1000), Take(HOUR, 2, 2)]) == {HOUR}
    assert await used(world, other, AMOUNT) == 0
    with pytest.raises(ValueError):
        await take_each(world, other, [Take(COUNT, 1, 5), Take(COUNT, 1, 5)])


async def test_orders_counted_together_at_once_keep_within_every_limit(world: World) -> None:
    """Eight orders of one customer at once, each counted against three limits in one
    statement: every limit holds, and each order is refused exactly the counts that no longer
    fitted."""
    me = await world.customer()
    order = [Take(HOUR, 1, 5), Take(COUNT, 1, 3), Take(AMOUNT, 300, 1000)]
    taken = await asyncio.gather(*(take_each(world, me, order) for _ in range(8)))
    assert [sum(scope in t for t in taken) for scope in (HOUR, COUNT, AMOUNT)] == [5, 3, 3]
    assert [await used(world, me, scope) for scope in (HOUR, COUNT, AMOUNT)] == [5, 3, 900]
