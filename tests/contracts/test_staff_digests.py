"""The daily digest's contract: each day's digest is claimed by one sender at a time, taken
again once a claim lapses or is released, and never after it was sent; held by the fake,
SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tests.contracts.conftest import NOW, World

DAY = "2026-11-10"
CLAIM = timedelta(minutes=5)
SENDERS = 4


async def claim(world: World, day: str, now: datetime = NOW) -> bool:
    async with world.units() as uow:
        taken = await uow.staff_digests.claim(day, now, now + CLAIM)
        await uow.commit()
    return taken


async def test_a_day_is_claimed_once_until_the_claim_lapses(world: World) -> None:
    assert await claim(world, DAY)
    assert not await claim(world, DAY)  # held
    assert not await claim(world, DAY, NOW + CLAIM - timedelta(seconds=1))
    assert await claim(world, "2026-11-11")  # another day is its own
    assert await claim(world, DAY, NOW + CLAIM)  # the first sender stopped: taken again
    assert not await claim(world, DAY, NOW + CLAIM)


async def test_a_released_day_is_taken_again_at_once(world: World) -> None:
    assert await claim(world, DAY)
    async with world.units() as uow:
        await uow.staff_digests.release(DAY)
        await uow.commit()
    assert await claim(world, DAY)


async def test_a_sent_day_is_never_claimed_again_nor_released(world: World) -> None:
    assert await claim(world, DAY)
    async with world.units() as uow:
        await uow.staff_digests.sent(DAY, 77, NOW + timedelta(seconds=3))
        await uow.commit()
    async with world.units() as uow:
        await uow.staff_digests.release(DAY)  # a late release of a delivered digest
        await uow.commit()
    assert not await claim(world, DAY)
    assert not await claim(world, DAY, NOW + timedelta(days=1))


async def test_a_digest_not_committed_is_not_claimed(world: World) -> None:
    async with world.units() as uow:
        assert await uow.staff_digests.claim(DAY, NOW, NOW + CLAIM)
        # left without commit: rolled back
    assert await claim(world, DAY)


async def test_of_concurrent_senders_one_claims_a_new_day_and_one_a_lapsed_one(
    world: World,
) -> None:
    first = await asyncio.gather(*(claim(world, DAY) for _ in range(SENDERS)))
    assert sorted(first) == [False] * (SENDERS - 1) + [True]
    lapsed = NOW + CLAIM
    again = await asyncio.gather(*(claim(world, DAY, lapsed) for _ in range(SENDERS)))
    assert sorted(again) == [False] * (SENDERS - 1) + [True]
