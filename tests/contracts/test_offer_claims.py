"""Offers' slots: a claim takes one within the quota, the budget and the customer's uses, or
nothing; it is granted or released once. The contract held by the fake, SQLite and PostgreSQL
alike, races included."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import RecordConflict
from domain.repositories import SlotClaim
from domain.repositories.money import GRANTED, HELD, RELEASED
from tests.contracts.conftest import NOW, World
from tests.contracts.money import an_offer, load, member, recharged


async def offer_taken(world: World, offer_id: int) -> tuple[int, int]:
    async with world.money.read() as uow:
        [offer] = [o for _, offers in await uow.campaigns.live(NOW) for o in offers]
    assert offer.id == offer_id
    return offer.used, offer.spent_fen


async def claim(world: World, slot: SlotClaim, order_id: int) -> bool:
    async with world.money() as uow:
        taken = await uow.claims.claim(slot, order_id, NOW)
        await uow.commit()
    return taken


async def test_claims_stay_within_the_quota_the_budget_and_the_customers_uses(
    world: World,
) -> None:
    offer = (await load(world, "festival", an_offer("double", quota=3, budget_fen=2500)))["double"]
    me, other = await member(world), await member(world)
    orders = [await recharged(world, me, 1000, NOW) for _ in range(5)]
    capped = SlotClaim(offer, me, cashback_fen=1000, uses_per_customer=2)
    assert await claim(world, capped, orders[0])
    assert await claim(world, capped, orders[1])
    assert not await claim(world, capped, orders[2])  # the customer's two uses are taken
    assert await offer_taken(world, offer) == (2, 2000)
    assert not await claim(world, SlotClaim(offer, other, cashback_fen=600), orders[3])  # budget
    assert await claim(world, SlotClaim(offer, other, cashback_fen=500), orders[3])
    assert not await claim(world, SlotClaim(offer, other), orders[4])  # quota
    assert await offer_taken(world, offer) == (3, 2500)
    async with world.money.read() as uow:
        [held] = await uow.claims.of_order(orders[0])
        assert await uow.claims.of_order(orders[2]) == []
    assert (held.offer_id, held.order_id, held.customer_id, held.cashback_fen, held.status) == (
        offer,
        orders[0],
        me,
        1000,
        HELD,
    )
    assert held.at == NOW


async def test_a_claim_is_granted_or_released_once_and_a_release_gives_the_slot_back(
    world: World,
) -> None:
    offer = (await load(world, "festival", an_offer("double", quota=2)))["double"]
    me = await member(world)
    first, second, third = [await recharged(world, me, 1000, NOW) for _ in range(3)]
    once = SlotClaim(offer, me, cashback_fen=100, uses_per_customer=1)
    assert await claim(world, once, first)
    assert not await claim(world, once, second)
    async with world.money() as uow:
        [held] = await uow.claims.of_order(first)
        assert await uow.claims.settle(held, RELEASED)
        assert not await uow.claims.settle(held, RELEASED)
        assert not await uow.claims.settle(held, GRANTED)
        await uow.commit()
    assert await offer_taken(world, offer) == (0, 0)
    assert await claim(world, once, second)  # the slot and the customer's use came back
    async with world.money() as uow:
        [held] = await uow.claims.of_order(second)
        assert await uow.claims.settle(held, GRANTED)
        assert not await uow.claims.settle(held, RELEASED)
        await uow.commit()
    assert await offer_taken(world, offer) == (1, 100)
    assert await claim(world, SlotClaim(offer, me), third)
    async with world.money() as uow:
        await uow.claims.grant_all(third)
        await uow.commit()
    async with world.money.read() as uow:
        statuses = [c.status for o in (first, second, third) for c in await uow.claims.of_order(o)]
    assert statuses == [RELEASED, GRANTED, GRANTED]
    assert await offer_taken(world, offer) == (2, 100)


async def test_withdrawing_forgets_the_orders_claims_as_if_never_made(world: World) -> None:
    offer = (await load(world, "festival", an_offer("double", quota=1)))["double"]
    me = await member(world)
    order, other = await recharged(world, me, 1000, NOW), await recharged(world, me, 1000, NOW)
    once = SlotClaim(offer, me, cashback_fen=300, uses_per_customer=1)
    assert await claim(world, once, order)
    async with world.money() as uow:
        await uow.claims.withdraw(order)
        await uow.commit()
    async with world.money.read() as uow:
        assert await uow.claims.of_order(order) == []
    assert await offer_taken(world, offer) == (0, 0)
    assert await claim(world, once, other)


async def test_a_second_claim_of_one_offer_for_one_order_is_a_conflict(world: World) -> None:
    offer = (await load(world, "festival", an_offer("double", quota=5)))["double"]
    me = await member(world)
    order = await recharged(world, me, 1000, NOW)
    assert await claim(world, SlotClaim(offer, me), order)
    with pytest.raises(RecordConflict):
        await claim(world, SlotClaim(offer, me), order)
    assert await offer_taken(world, offer) == (1, 0)


async def test_of_many_claims_at_once_on_the_last_slots_exactly_the_quota_win(
    world: World,
) -> None:
    offer = (await load(world, "festival", an_offer("double", quota=3, budget_fen=10_000)))[
        "double"
    ]
    customers = [await member(world) for _ in range(4)]
    orders = [await recharged(world, c, 1000, NOW) for c in customers for _ in range(3)]
    owners = [c for c in customers for _ in range(3)]
    won = await asyncio.gather(
        *(
            claim(world, SlotClaim(offer, owner, cashback_fen=1000, uses_per_customer=1), order)
            for owner, order in zip(owners, orders, strict=True)
        )
    )
    assert sum(won) == 3
    winners = [owner for owner, w in zip(owners, won, strict=True) if w]
    assert len(set(winners)) == 3  # one use per customer, however many of theirs raced
    assert await offer_taken(world, offer) == (3, 3000)


async def test_claims_and_releases_at_once_give_out_exactly_the_quota_each_slot_back_once(
    world: World,
) -> None:
    """An offer of 5 slots and no budget (its slots counted in shards, three of them with no
    share at all): 40 claims at once, then each winner's slot released twice at once while 40
    more claim, then 40 more. Every round ends with exactly the quota held, each slot given
    back once however many releases of it ran."""
    offer = (await load(world, "festival", an_offer("double", quota=5)))["double"]
    customers = [await member(world) for _ in range(8)]

    async def claims_at_once(count: int) -> tuple[list[int], list[bool]]:
        orders = [await recharged(world, customers[n % 8], 1000, NOW) for n in range(count)]
        won = await asyncio.gather(
            *(
                claim(world, SlotClaim(offer, customers[n % 8], cashback_fen=100), order)
                for n, order in enumerate(orders)
            )
        )
        return [o for o, w in zip(orders, won, strict=True) if w], list(won)

    async def release(order_id: int) -> bool:
        async with world.money() as uow:
            [held] = await uow.claims.of_order(order_id)
            released = await uow.claims.settle(held, RELEASED)
            await uow.commit()
        return released

    first, won = await claims_at_once(40)
    assert sum(won) == 5
    assert await offer_taken(world, offer) == (5, 500)

    releases = asyncio.gather(*(release(order) for order in first + first))
    (second, won), released = await asyncio.gather(claims_at_once(40), releases)
    assert sum(released) == 5  # each winner's slot given back once of its two releases
    used, spent = await offer_taken(world, offer)
    assert used == sum(won) <= 5 and spent == 100 * used

    third, won = await claims_at_once(40)
    assert sum(won) == 5 - used  # the rest of the quota, exactly
    assert await offer_taken(world, offer) == (5, 500)
    async with world.money.read() as uow:
        held = [c for o in second + third for c in await uow.claims.of_order(o)]
    assert len(held) == 5 and {c.status for c in held} == {HELD}


async def test_a_quota_changed_by_loading_the_campaign_again_holds_under_claims_at_once(
    world: World,
) -> None:
    """An offer's quota lowered and raised by loading its campaign again: the slots taken are
    kept, and claims at once get exactly what the new quota leaves."""
    offer = (await load(world, "festival", an_offer("double", quota=8)))["double"]
    me = await member(world)

    async def claims_at_once(count: int) -> int:
        orders = [await recharged(world, me, 1000, NOW) for _ in range(count)]
        won = await asyncio.gather(*(claim(world, SlotClaim(offer, me), o) for o in orders))
        return sum(won)

    assert await claims_at_once(3) == 3
    await load(world, "festival", an_offer("double", quota=4))
    assert await claims_at_once(12) == 1
    assert await offer_taken(world, offer) == (4, 0)
    await load(world, "festival", an_offer("double", quota=10))
    assert await claims_at_once(12) == 6
    assert await offer_taken(world, offer) == (10, 0)
