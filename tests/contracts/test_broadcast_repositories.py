"""Broadcasts and their outbox: a push is planned once per broadcast and recipient of its
segment, claimed by one sender and settled once; opt-outs, presses, ratings and comments count
once. The contract held by the fake, SQLite and PostgreSQL alike, races included."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from domain.broadcasts import Audience, BroadcastStatus, PushSkip, Stage, bucket_of, variant_of
from domain.repositories.broadcasts import (
    PLANNED,
    SENT,
    SKIPPED,
    UNSEND,
    UNSENDING,
    UNSENT,
    NewBroadcast,
)
from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(minutes=5)
CLAIM = timedelta(minutes=2)
QUIET_ENDS = NOW + timedelta(minutes=3)
CAP = "push:2026-11-11"
EXISTING = Audience(stage=Stage.EXISTING)


async def a_broadcast(world: World, audience: Audience = EXISTING) -> int:
    async with world.services() as uow:
        broadcast_id = await uow.broadcasts.add(
            NewBroadcast(
                status=BroadcastStatus.SCHEDULED.value,
                text_zh="双十一充值",
                text_en="Recharge on 11.11",
                targets=[],
                audience=audience.to_json(),
                send_at=NOW,
                created_by=1,
                created_at=NOW,
            )
        )
        await uow.commit()
    return broadcast_id


async def plan(world: World, broadcast_id: int, audience: Audience = EXISTING) -> int:
    async with world.services() as uow:
        top = await uow.broadcasts.top_customer_id()
        planned = await uow.broadcasts.plan(broadcast_id, audience, 0, top, NOW)
        await uow.commit()
    return planned


async def claim(world: World, broadcast_id: int, limit: int, now: datetime = NOW) -> list[int]:
    async with world.services() as uow:
        rows = await uow.broadcasts.claim([broadcast_id], now, now + CLAIM, limit)
        await uow.commit()
    return [row.id for row in rows]


async def progress(world: World, broadcast_id: int) -> dict[tuple[str, str | None], int]:
    async with world.services.read() as uow:
        counts = await uow.broadcasts.progress(broadcast_id)
    return {(status, reason): n for status, reason, n in counts}


async def existing(world: World, count: int) -> list[int]:
    """Customers with a completed recharge."""
    customers = [await world.customer() for _ in range(count)]
    for customer_id in customers:
        await world.order(customer_id, "completed")
    return customers


async def test_a_broadcast_is_planned_once_per_reachable_recipient_of_its_segment(
    world: World,
) -> None:
    reached = await existing(world, 3)
    opted_out, blocked, erased = await existing(world, 3)
    newcomer = await world.customer()  # no recharge: not in the segment
    async with world.services() as uow:
        assert await uow.broadcasts.opt_out(opted_out, NOW) == 0
        await uow.reminders.mark_unreachable(blocked, NOW)
        await uow.customers.erase(erased, NOW)
        await uow.commit()
    async with world.services.read() as uow:
        matching, excluded = await uow.broadcasts.reach(EXISTING, NOW, CAP, 1)
        assert sorted(await uow.broadcasts.reachable_ids(EXISTING, NOW, CAP, 1)) == reached
        everyone = await uow.broadcasts.reachable_ids(Audience(), NOW, CAP, 1)
    assert (matching, excluded) == (5, {PushSkip.OPTED_OUT: 1, PushSkip.UNREACHABLE: 1})
    assert newcomer in everyone and opted_out not in everyone

    broadcast_id = await a_broadcast(world)
    assert await plan(world, broadcast_id) == 3
    assert await plan(world, broadcast_id) == 0  # planned again: nothing added
    assert await progress(world, broadcast_id) == {(PLANNED, None): 3}
    async with world.services() as uow:
        pushes = await uow.broadcasts.claim([broadcast_id], NOW, LATER, 10)
        await uow.commit()
    assert sorted(push.customer_id for push in pushes) == reached


async def test_plans_of_one_broadcast_at_once_queue_each_recipient_once(world: World) -> None:
    await existing(world, 6)
    broadcast_id = await a_broadcast(world)
    planned = await asyncio.gather(*(plan(world, broadcast_id) for _ in range(4)))
    assert sum(planned) == 6
    assert await progress(world, broadcast_id) == {(PLANNED, None): 6}


async def test_a_push_goes_to_one_sender_and_is_settled_once(world: World) -> None:
    await existing(world, 3)
    broadcast_id = await a_broadcast(world)
    await plan(world, broadcast_id)
    first = await claim(world, broadcast_id, 2)
    second = await claim(world, broadcast_id, 5)
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    assert await claim(world, broadcast_id, 5) == []
    async with world.services() as uow:
        sent = await uow.broadcasts.settle(first[0], SENT, NOW, message_id=70)
        assert sent is not None and sent.status == SENT
        assert await uow.broadcasts.settle(first[0], SKIPPED, NOW, reason="again") is None
        await uow.broadcasts.release([first[1]])
        await uow.broadcasts.defer(second[0], QUIET_ENDS)  # in quiet hours: waits
        await uow.commit()
    assert await claim(world, broadcast_id, 5) == [first[1]]
    # The sender of first[1] was killed: its claim lapses and another takes the push.
    assert await claim(world, broadcast_id, 5, NOW + CLAIM + timedelta(seconds=1)) == [first[1]]
    assert await claim(world, broadcast_id, 5, QUIET_ENDS) == [second[0]]
    async with world.services() as uow:
        assert await uow.broadcasts.was_sent(broadcast_id, sent.customer_id)
        assert await uow.broadcasts.finish_sent(LATER) == []  # two still being sent
        assert await uow.broadcasts.settle(first[1], SENT, LATER, message_id=71) is not None
        assert await uow.broadcasts.settle(second[0], SENT, LATER, message_id=72) is not None
        assert await uow.broadcasts.finish_sent(LATER) == []  # not fully planned yet
        await uow.broadcasts.planned_through(broadcast_id, 1_000_000, finished=True)
        assert await uow.broadcasts.finish_sent(LATER) == [broadcast_id]
        assert await uow.broadcasts.finish_sent(LATER) == []
        await uow.commit()
    assert await progress(world, broadcast_id) == {(SENT, None): 3}


async def test_of_senders_claiming_at_once_each_push_goes_to_one(world: World) -> None:
    await existing(world, 12)
    broadcast_id = await a_broadcast(world)
    await plan(world, broadcast_id)
    at_once = await asyncio.gather(*(claim(world, broadcast_id, 5) for _ in range(4)))
    taken = [outbox_id for ids in at_once for outbox_id in ids]
    assert len(taken) == len(set(taken))  # no push went to two senders
    rest = await claim(world, broadcast_id, 12)
    assert not set(rest) & set(taken)
    assert len(taken) + len(rest) == 12


async def test_turning_pushes_off_skips_what_is_queued_for_the_customer(world: World) -> None:
    me, other = await existing(world, 2)
    broadcast_id = await a_broadcast(world)
    await plan(world, broadcast_id)
    async with world.services() as uow:
        assert await uow.broadcasts.opt_out(me, NOW) == 1
        assert await uow.broadcasts.opt_out(me, NOW) == 0
        assert await uow.broadcasts.opted_out([me, other]) == {me}
        await uow.commit()
    assert await progress(world, broadcast_id) == {
        (PLANNED, None): 1,
        (SKIPPED, PushSkip.OPTED_OUT.value): 1,
    }
    async with world.services() as uow:
        await uow.broadcasts.opt_in(me)
        assert await uow.broadcasts.opted_out([me, other]) == set()
        await uow.commit()


async def test_a_broadcast_moves_only_from_the_statuses_allowed(world: World) -> None:
    await existing(world, 2)
    broadcast_id = await a_broadcast(world)
    await plan(world, broadcast_id)
    scheduled, paused = BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED
    async with world.services() as uow:
        assert await uow.broadcasts.move(broadcast_id, paused, [scheduled])
        assert not await uow.broadcasts.move(broadcast_id, paused, [scheduled])
        assert await uow.broadcasts.due(NOW) == []
        assert await uow.broadcasts.move(
            broadcast_id, BroadcastStatus.CANCELLED, [scheduled, paused]
        )
        assert await uow.broadcasts.skip_queued(broadcast_id, "cancelled", NOW) == 2
        assert await uow.broadcasts.skip_queued(broadcast_id, "cancelled", NOW) == 0
        await uow.broadcasts.record(broadcast_id, 9, "pause", NOW)
        await uow.broadcasts.record(broadcast_id, 9, "cancel", LATER)
        actions = [(a.staff_id, a.action) for a in await uow.broadcasts.actions(broadcast_id)]
        await uow.commit()
    assert actions == [(9, "pause"), (9, "cancel")]


async def test_a_sent_push_is_taken_back_once(world: World) -> None:
    await existing(world, 2)
    broadcast_id = await a_broadcast(world)
    await plan(world, broadcast_id)
    pushes = await claim(world, broadcast_id, 5)
    async with world.services() as uow:
        for n, push in enumerate(pushes):
            await uow.broadcasts.settle(push, SENT, NOW, message_id=100 + n)
        assert await uow.broadcasts.unsend(broadcast_id) == 2
        assert await uow.broadcasts.unsend(broadcast_id) == 0
        await uow.commit()
    async with world.services() as uow:
        first = [p.id for p in await uow.broadcasts.claim_unsend(NOW, NOW + CLAIM, 1)]
        second = [p.id for p in await uow.broadcasts.claim_unsend(NOW, NOW + CLAIM, 5)]
        assert sorted(first + second) == sorted(pushes)
        assert await uow.broadcasts.claim_unsend(NOW, NOW + CLAIM, 5) == []
        await uow.broadcasts.unsent(first[0], None)
        await uow.broadcasts.unsend_later(second)
        await uow.commit()
    assert await progress(world, broadcast_id) == {(UNSENT, None): 1, (UNSEND, None): 1}
    async with world.services() as uow:
        again = await uow.broadcasts.claim_unsend(LATER, LATER + CLAIM, 5)
        await uow.commit()
    assert [p.id for p in again] == second
    assert await progress(world, broadcast_id) == {(UNSENT, None): 1, (UNSENDING, None): 1}


async def test_a_press_a_rating_and_a_comment_count_once(world: World) -> None:
    me, other = await existing(world, 2)
    broadcast_id = await a_broadcast(world)
    await plan(world, broadcast_id)
    async with world.services() as uow:
        assert await uow.broadcasts.pressed(broadcast_id, me, NOW)
        assert not await uow.broadcasts.pressed(broadcast_id, me, LATER)
        assert await uow.broadcasts.rate(broadcast_id, me, None, 5, NOW)
        assert not await uow.broadcasts.rate(broadcast_id, me, None, 1, NOW)
        assert not await uow.broadcasts.comment(broadcast_id, other, "no rating")
        assert await uow.broadcasts.comment(broadcast_id, me, "good")
        assert not await uow.broadcasts.comment(broadcast_id, me, "again")
        await uow.commit()


async def test_of_ratings_at_once_the_first_stays(world: World) -> None:
    (me,) = await existing(world, 1)
    broadcast_id = await a_broadcast(world)

    async def rate(stars: int) -> bool:
        async with world.services() as uow:
            rated = await uow.broadcasts.rate(broadcast_id, me, None, stars, NOW)
            await uow.commit()
        return rated

    assert sum(await asyncio.gather(*(rate(stars) for stars in range(1, 6)))) == 1


async def test_a_customers_time_zone_is_kept(world: World) -> None:
    me, other = await world.customer(), await world.customer()
    async with world.services() as uow:
        await uow.broadcasts.set_time_zone(me, "Europe/London")
        await uow.commit()
    async with world.services.read() as uow:
        assert await uow.broadcasts.time_zone(me) == "Europe/London"
        assert await uow.broadcasts.time_zone(other) is None
        assert await uow.broadcasts.time_zones() == ["Europe/London"]
        contacts = await uow.reminders.customers([me])
    assert contacts[me].timezone == "Europe/London"


async def test_each_recipient_gets_the_variant_its_bucket_falls_in(world: World) -> None:
    customers = await existing(world, 10)
    broadcast_id = await a_broadcast(world)
    async with world.services() as uow:
        top = await uow.broadcasts.top_customer_id()
        assert await uow.broadcasts.plan(broadcast_id, EXISTING, 0, top, NOW, (30, 70)) == 10
        pushes = await uow.broadcasts.claim([broadcast_id], NOW, LATER, 10)
        await uow.commit()
    variants = {push.customer_id: push.variant for push in pushes}
    assert variants == {me: variant_of(bucket_of(me, broadcast_id), (30, 70)) for me in customers}


async def test_a_push_at_a_local_time_waits_for_that_time_in_the_customers_zone(
    world: World,
) -> None:
    london, here = await existing(world, 2)
    broadcast_id = await a_broadcast(world)
    in_london, otherwise = NOW + timedelta(hours=8), NOW + timedelta(hours=1)
    async with world.services() as uow:
        await uow.broadcasts.set_time_zone(london, "Europe/London")
        top = await uow.broadcasts.top_customer_id()
        send_times = ({"Europe/London": in_london}, otherwise)
        planned = await uow.broadcasts.plan(
            broadcast_id, EXISTING, 0, top, NOW, send_times=send_times
        )
        assert planned == 2
        await uow.commit()
    assert await claim(world, broadcast_id, 5) == []
    async with world.services() as uow:
        first = await uow.broadcasts.claim([broadcast_id], otherwise, otherwise + CLAIM, 5)
        await uow.broadcasts.settle(first[0].id, SENT, otherwise, message_id=1)
        second = await uow.broadcasts.claim([broadcast_id], in_london, in_london + CLAIM, 5)
        await uow.commit()
    assert [push.customer_id for push in first] == [here]
    assert [push.customer_id for push in second] == [london]


async def test_customers_at_the_days_cap_or_without_consent_are_not_reached(
    world: World,
) -> None:
    capped, refused, agreed = await existing(world, 3)
    async with world.services() as uow:
        assert await uow.allowances.take(capped, CAP, 1, 1)
        await uow.consents.accept(refused, False, NOW)
        for me in (capped, agreed):
            await uow.consents.accept(me, True, NOW)
        await uow.commit()
    async with world.services.read() as uow:
        assert await uow.broadcasts.reach(EXISTING, NOW, CAP, 1) == (
            3,
            {PushSkip.FREQUENCY_CAP: 1},
        )
        assert await uow.broadcasts.reach(EXISTING, NOW, CAP, 1, consent_required=True) == (
            3,
            {PushSkip.NO_CONSENT: 1, PushSkip.FREQUENCY_CAP: 1},
        )
        assert sorted(await uow.broadcasts.reachable_ids(EXISTING, NOW, CAP, 1)) == [
            refused,
            agreed,
        ]
        assert await uow.broadcasts.reachable_ids(EXISTING, NOW, CAP, 1, True) == [agreed]
        assert await uow.broadcasts.marketing_refused([capped, refused, agreed]) == {refused}
    broadcast_id = await a_broadcast(world)
    async with world.services() as uow:
        top = await uow.broadcasts.top_customer_id()
        planned = await uow.broadcasts.plan(
            broadcast_id, EXISTING, 0, top, NOW, consent_required=True
        )
        await uow.commit()
    assert planned == 2  # consent is asked when it is planned, the cap when it is sent
