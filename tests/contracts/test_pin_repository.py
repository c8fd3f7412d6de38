"""The payment PIN repository's contract, held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(hours=1)


async def test_a_pin_is_kept_by_its_hash_and_a_new_one_starts_afresh(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        assert await uow.pins.get(me) is None
        await uow.pins.set(me, "hash-1", NOW)
        assert await uow.pins.count_wrong(me) == 1
        await uow.pins.lock(me, LATER)
        await uow.commit()
    async with world.units.read() as uow:
        locked = await uow.pins.get(me)
    assert locked is not None
    assert (locked.pin_hash, locked.wrong_tries, locked.locked_until) == ("hash-1", 0, LATER)
    async with world.units() as uow:
        assert await uow.pins.count_wrong(me) == 1
        await uow.pins.set(me, "hash-2", LATER)
        await uow.commit()
    async with world.units.read() as uow:
        changed = await uow.pins.get(me)
    assert changed is not None
    assert (changed.pin_hash, changed.wrong_tries, changed.locked_until) == ("hash-2", 0, None)
    assert changed.set_at == LATER


async def test_the_right_pin_forgives_the_wrong_tries(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        await uow.pins.set(me, "hash", NOW)
        await uow.pins.count_wrong(me)
        assert await uow.pins.count_wrong(me) == 2
        await uow.pins.right(me)
        assert await uow.pins.count_wrong(me) == 1
        await uow.commit()


async def test_every_concurrent_wrong_try_counts(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        await uow.pins.set(me, "hash", NOW)
        await uow.commit()

    async def wrong() -> int:
        async with world.units() as uow:
            count = await uow.pins.count_wrong(me)
            await uow.commit()
        return count

    assert sorted(await asyncio.gather(*(wrong() for _ in range(6)))) == [1, 2, 3, 4, 5, 6]


async def test_only_a_number_shared_as_the_customers_own_contact_is_verified(
    world: World,
) -> None:
    me, other = await world.customer(), await world.customer()
    async with world.units() as uow:
        await uow.phones.bind(me, "13800138000", "china_mobile", NOW, verified=True)
        await uow.phones.bind(me, "13900139000", "china_mobile", NOW)
        await uow.phones.bind(other, "13700137000", "china_mobile", NOW)
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.pins.verified_number(me, "13800138000")
        assert not await uow.pins.verified_number(me, "13900139000")
        assert not await uow.pins.verified_number(other, "13800138000")
    async with world.units() as uow:
        await uow.phones.mark_verified(me, "13900139000")
        await uow.phones.mark_verified(me, "13700137000")  # not theirs: nothing changes
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.pins.verified_number(me, "13900139000")
        assert not await uow.pins.verified_number(me, "13700137000")


async def test_a_removed_or_forgotten_pin_is_gone(world: World) -> None:
    me, other = await world.customer(), await world.customer()
    async with world.units() as uow:
        await uow.pins.set(me, "hash", NOW)
        await uow.pins.set(other, "hash", NOW)
        await uow.commit()
    async with world.units() as uow:
        await uow.pins.remove(me)
        await uow.privacy.forget_secrets(other)
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.pins.get(me) is None and await uow.pins.get(other) is None
