"""Points: a balance that moves only with its ledger entry, never below zero, once per key, and
lapses oldest first. The contract held by the fake, SQLite and PostgreSQL alike, races
included."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from domain.errors import RecordConflict
from domain.repositories.money import LapseBatch, LapseWarning
from tests.contracts.conftest import NOW, World
from tests.contracts.money import member

DAY = timedelta(days=1)


async def post(world: World, customer_id: int, points: int, key: str) -> bool:
    async with world.money() as uow:
        done = await uow.points.post(customer_id, points, "adjust", key, NOW)
        await uow.commit()
    return done


async def balance(world: World, customer_id: int) -> int:
    async with world.money.read() as uow:
        points = await uow.points.balance(customer_id)
        assert await uow.points.ledger_sum(customer_id) == points
    return points


async def test_a_post_moves_the_balance_with_its_entry_and_never_below_zero(world: World) -> None:
    me = await member(world)
    async with world.money() as uow:
        assert await uow.points.post(me, 300, "earn", "e1", NOW, order_id=None, note="n" * 200)
        assert await uow.points.post(me, -100, "redeem", "r1", NOW + DAY)
        assert not await uow.points.post(me, -201, "redeem", "r2", NOW + DAY)
        await uow.commit()
    assert await balance(world, me) == 200
    async with world.money.read() as uow:
        assert await uow.points.has_entry("r1") and not await uow.points.has_entry("r2")
        entry = await uow.points.entry("e1")
        assert await uow.points.entry("r2") is None
        newest = await uow.points.entries(me, 1)
        oldest_first = await uow.points.all_entries(me)
    assert entry is not None
    assert (entry.customer_id, entry.points, entry.kind, entry.note, entry.at) == (
        me,
        300,
        "earn",
        "n" * 128,
        NOW,
    )
    assert [e.idempotency_key for e in newest] == ["r1"]
    assert [(e.idempotency_key, e.points) for e in oldest_first] == [("e1", 300), ("r1", -100)]


async def test_no_balance_no_points_and_a_second_balance_is_a_conflict(world: World) -> None:
    me = await world.customer()
    assert not await post(world, me, 10, "k")
    assert await balance(world, me) == 0
    async with world.money() as uow:
        await uow.points.open(me)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.money() as uow:
            await uow.points.open(me)
            await uow.commit()
    assert await post(world, me, 10, "k")


async def test_a_replayed_key_is_a_conflict_and_keeps_nothing(world: World) -> None:
    me = await member(world, 100)
    assert await post(world, me, -40, "redeem:1")
    with pytest.raises(RecordConflict):
        await post(world, me, -40, "redeem:1")
    assert await balance(world, me) == 60


async def test_of_spends_at_once_only_those_the_balance_covers_apply(world: World) -> None:
    me = await member(world, 100)

    async def spend(n: int) -> bool:
        return await post(world, me, -30, f"redeem:{n}")

    spent = await asyncio.gather(*(spend(n) for n in range(8)))
    assert sum(spent) == 3
    assert await balance(world, me) == 10


async def test_points_lapse_oldest_first_once(world: World) -> None:
    me, other, never = await member(world), await member(world), await member(world, 50)
    async with world.money() as uow:
        assert await uow.points.post(me, 100, "earn", "a", NOW, expires_at=NOW + DAY)
        assert await uow.points.post(me, 50, "earn", "b", NOW + DAY, expires_at=NOW + 3 * DAY)
        assert await uow.points.post(me, -120, "redeem", "c", NOW + DAY)  # 100 of a, 20 of b
        assert await uow.points.post(other, 70, "earn", "d", NOW, expires_at=NOW + 2 * DAY)
        await uow.commit()

    async def lapse(days: int, limit: int = 10) -> LapseBatch:
        async with world.money() as uow:
            batch = await uow.points.lapse_due(NOW + days * DAY, limit)
            await uow.commit()
        return batch

    assert await lapse(0) == LapseBatch(0, 0)
    # Due by its first date, though all of its points were spent: looked at, nothing lapses.
    assert await lapse(1) == LapseBatch(1, 0)
    assert await lapse(1) == LapseBatch(0, 0)  # not read again until its next date
    assert await lapse(3, limit=1) == LapseBatch(1, 70)  # the oldest due first
    assert await lapse(3) == LapseBatch(1, 30)
    assert await lapse(30) == LapseBatch(0, 0)
    assert (await balance(world, me), await balance(world, other)) == (0, 0)
    assert await balance(world, never) == 50
    async with world.money.read() as uow:
        lapsed = [(e.kind, e.points) for e in await uow.points.all_entries(me) if e.points < 0]
    assert lapsed == [("redeem", -120), ("expire", -30)]


async def test_a_lapse_is_warned_of_once_and_again_when_undelivered(world: World) -> None:
    me, other = await member(world), await member(world)
    async with world.money() as uow:
        assert await uow.points.post(me, 100, "earn", "a", NOW, expires_at=NOW + 5 * DAY)
        assert await uow.points.post(me, 40, "earn", "b", NOW, expires_at=NOW + 6 * DAY)
        assert await uow.points.post(me, 60, "earn", "c", NOW, expires_at=NOW + 30 * DAY)
        assert await uow.points.post(other, 10, "earn", "d", NOW, expires_at=NOW + 20 * DAY)
        await uow.commit()

    async def warn(before_days: int) -> tuple[int, list[LapseWarning]]:
        async with world.money() as uow:
            warned = await uow.points.lapse_warnings_due(NOW, NOW + before_days * DAY, 10)
            await uow.commit()
        return warned

    assert await warn(4) == (0, [])
    assert await warn(7) == (1, [LapseWarning(me, 140, NOW + 5 * DAY)])
    assert await warn(7) == (0, [])  # warned of that date already
    async with world.money() as uow:
        await uow.points.lapse_warning_undelivered(me)
        await uow.commit()
    assert await warn(7) == (1, [LapseWarning(me, 140, NOW + 5 * DAY)])
    looked_at, warnings = await warn(25)
    assert (looked_at, warnings) == (1, [LapseWarning(other, 10, NOW + 20 * DAY)])


async def test_times_are_read_back_in_utc_whatever_zone_they_were_given_in(
    world: World,
) -> None:
    beijing = timezone(timedelta(hours=8))
    lapses = datetime(2027, 12, 1, 0, 0, tzinfo=beijing)
    me = await member(world)
    async with world.money() as uow:
        assert await uow.points.post(
            me, 10, "earn", "a", NOW.astimezone(beijing), expires_at=lapses
        )
        await uow.commit()
    async with world.money() as uow:
        entry = await uow.points.entry("a")
        warned = await uow.points.lapse_warnings_due(NOW, lapses, 10)
        await uow.commit()
    assert entry is not None and entry.expires_at is not None
    assert (entry.at, entry.expires_at) == (NOW, lapses)
    assert (entry.at.utcoffset(), entry.expires_at.utcoffset()) == (timedelta(0), timedelta(0))
    [warning] = warned[1]
    assert warning.lapses_at.utcoffset() == timedelta(0)
    assert warning.lapses_at.date().isoformat() == "2027-11-30"  # the notice's key uses it


async def test_points_lapsing_while_they_are_spent_are_taken_once(world: World) -> None:
    me = await member(world)
    async with world.money() as uow:
        assert await uow.points.post(me, 100, "earn", "e", NOW, expires_at=NOW + DAY)
        await uow.commit()
    later = NOW + 2 * DAY

    async def lapse() -> int:
        async with world.money() as uow:
            batch = await uow.points.lapse_due(later, 10)
            await uow.commit()
        return batch.points

    async def spend(n: int) -> int:
        return 30 if await post(world, me, -30, f"redeem:{n}") else 0

    taken = await asyncio.gather(lapse(), *(spend(n) for n in range(5)), lapse())
    taken.append(await lapse())  # a customer another sweep held is looked at by the next
    assert sum(taken) == 100  # each point spent or lapsed, once
    assert await balance(world, me) == 0
