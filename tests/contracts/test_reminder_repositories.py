"""Reminders' subscriptions and outbox, and the scheduler's lease: a reminder is planned once per
customer and key, claimed by one sender, settled once; the lease is held by one. The contract
held by the fake, SQLite and PostgreSQL alike, races included."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from domain.repositories.reminders import FAILED, PLANNED, SENDING, SENT
from tests.contracts.conftest import NOW, World
from tests.contracts.money import an_offer, load

LATER = NOW + timedelta(minutes=5)
CLAIM = timedelta(minutes=2)
ZONE = "Asia/Shanghai"


async def a_campaign(world: World, code: str = "festival") -> int:
    offers = await load(world, code, an_offer(f"{code}-offer"))
    async with world.services.read() as uow:
        offer = await uow.campaigns.offer(offers[f"{code}-offer"])
    assert offer is not None
    return offer.campaign_id


async def subscribe(world: World, customer_id: int, campaign_id: int, scope: str = "*") -> bool:
    async with world.services() as uow:
        new = await uow.reminders.subscribe(
            customer_id, campaign_id, scope, 1000 + customer_id, ZONE, NOW
        )
        await uow.commit()
    return new


async def plan(world: World, campaign_id: int, key: str = "ending") -> int:
    async with world.services() as uow:
        planned = await uow.reminders.plan(
            campaign_id=campaign_id,
            timezone=ZONE,
            after_id=0,
            up_to_id=1_000_000,
            key=key,
            due_at=NOW,
            stale_at=NOW + timedelta(hours=6),
            now=NOW,
        )
        await uow.commit()
    return planned


async def claim(world: World, limit: int, now: datetime = NOW) -> list[int]:
    async with world.services() as uow:
        rows = await uow.reminders.claim_due(now, now + CLAIM, limit)
        await uow.commit()
    return [row.id for row in rows]


async def subscribers(world: World, campaign_id: int, count: int) -> list[int]:
    customers = [await world.customer() for _ in range(count)]
    for customer_id in customers:
        assert await subscribe(world, customer_id, campaign_id)
    return customers


async def test_a_subscription_is_kept_once_per_campaign_and_scope(world: World) -> None:
    campaign_id = await a_campaign(world)
    me = await world.customer()
    assert await subscribe(world, me, campaign_id)
    assert not await subscribe(world, me, campaign_id)  # the first stays
    assert await subscribe(world, me, campaign_id, "festival-offer")
    async with world.services.read() as uow:
        scopes = [s.scope for s in await uow.reminders.subscriptions_of(me)]
        found = await uow.reminders.subscribed([(me, campaign_id)])
    assert scopes == ["*", "festival-offer"]
    assert found == {(me, campaign_id): ({"*", "festival-offer"}, ZONE)}
    async with world.services() as uow:
        assert await uow.reminders.unsubscribe(me, campaign_id, "*") == 1
        assert await uow.reminders.unsubscribe(me, campaign_id, None) == 1
        assert await uow.reminders.unsubscribe(me, campaign_id, None) == 0
        await uow.commit()


async def test_a_reminder_is_planned_once_per_customer_and_key(world: World) -> None:
    campaign_id = await a_campaign(world)
    customers = await subscribers(world, campaign_id, 3)
    assert await subscribe(world, customers[0], campaign_id, "festival-offer")  # two scopes
    assert await plan(world, campaign_id) == 3  # once per customer, however many scopes
    assert await plan(world, campaign_id) == 0
    assert await plan(world, campaign_id, "last-day") == 3  # another reminder
    async with world.services.read() as uow:
        assert await uow.reminders.progress() == [(campaign_id, PLANNED, 6)]


async def test_plans_of_one_reminder_at_once_plan_it_once_per_customer(world: World) -> None:
    campaign_id = await a_campaign(world)
    await subscribers(world, campaign_id, 5)
    planned = await asyncio.gather(*(plan(world, campaign_id) for _ in range(4)))
    assert sum(planned) == 5
    async with world.services.read() as uow:
        assert await uow.reminders.progress() == [(campaign_id, PLANNED, 5)]


async def test_a_claimed_reminder_goes_to_one_sender_and_is_settled_once(world: World) -> None:
    campaign_id = await a_campaign(world)
    await subscribers(world, campaign_id, 3)
    await plan(world, campaign_id)
    first = await claim(world, 2)
    assert len(first) == 2
    second = await claim(world, 5)
    assert len(second) == 1 and not set(first) & set(second)
    assert await claim(world, 5) == []  # all are being sent
    async with world.services() as uow:
        assert await uow.reminders.settle(first[0], SENT, NOW, message_id=7)
        assert not await uow.reminders.settle(first[0], FAILED, NOW, reason="again")
        await uow.reminders.release([first[1]])
        await uow.commit()
    assert await claim(world, 5) == [first[1]]  # given back: taken again
    # A sender killed midway: its claim lapses and another takes the reminder.
    assert await claim(world, 5, NOW + CLAIM + timedelta(seconds=1)) == sorted([first[1], *second])
    async with world.services.read() as uow:
        progress = {s: n for _, s, n in await uow.reminders.progress()}
    assert progress == {SENT: 1, SENDING: 2}


async def test_only_its_customer_presses_a_reminder_and_only_once(world: World) -> None:
    campaign_id = await a_campaign(world)
    me, other = await subscribers(world, campaign_id, 2)
    await plan(world, campaign_id)
    async with world.services() as uow:
        mine = next(
            r.id for r in await uow.reminders.claim_due(NOW, LATER, 5) if r.customer_id == me
        )
        assert not await uow.reminders.pressed(mine, other, LATER)
        assert await uow.reminders.pressed(mine, me, LATER)
        assert not await uow.reminders.pressed(mine, me, LATER)
        await uow.commit()


async def test_of_senders_claiming_at_once_each_reminder_goes_to_one(world: World) -> None:
    campaign_id = await a_campaign(world)
    await subscribers(world, campaign_id, 12)
    await plan(world, campaign_id)
    at_once = await asyncio.gather(*(claim(world, 5) for _ in range(4)))
    taken = [outbox_id for ids in at_once for outbox_id in ids]
    assert len(taken) == len(set(taken))  # no reminder went to two senders
    rest = await claim(world, 12)  # what the race left is still there, and only that
    assert not set(rest) & set(taken)
    assert len(taken) + len(rest) == 12


async def test_blocked_customers_are_known_until_they_come_back(world: World) -> None:
    me, other = await world.customer(), await world.customer()
    async with world.services() as uow:
        await uow.reminders.mark_unreachable(me, NOW)
        await uow.reminders.mark_unreachable(me, LATER)  # once
        await uow.commit()
    async with world.services() as uow:
        assert await uow.reminders.unreachable([me, other]) == {me}
        await uow.reminders.mark_reachable(me)
        assert await uow.reminders.unreachable([me, other]) == set()
        contacts = await uow.reminders.customers([me, other])
        await uow.commit()
    assert set(contacts) == {me, other}
    assert contacts[me].telegram_id is not None and contacts[me].timezone is None


async def test_the_lease_is_held_by_one_until_it_lapses_or_is_given_up(world: World) -> None:
    async def hold(holder: str, now: datetime = NOW) -> bool:
        async with world.services() as uow:
            held = await uow.leases.hold("scheduler", holder, now, now + CLAIM)
            await uow.commit()
        return held

    assert await hold("a")
    assert not await hold("b")
    assert await hold("a", LATER - CLAIM)  # renewed
    assert not await hold("b", LATER)
    assert await hold("b", LATER + timedelta(seconds=1))  # lapsed
    async with world.services() as uow:
        await uow.leases.release("scheduler", "a")  # not a's any more: nothing
        await uow.commit()
    assert not await hold("a", LATER + timedelta(seconds=2))
    async with world.services() as uow:
        await uow.leases.release("scheduler", "b")
        await uow.commit()
    assert await hold("a", LATER + timedelta(seconds=2))


async def test_of_processes_taking_the_lease_at_once_one_holds_it(world: World) -> None:
    async def hold(holder: str) -> bool:
        async with world.services() as uow:
            held = await uow.leases.hold("scheduler", holder, NOW, LATER)
            await uow.commit()
        return held

    held = await asyncio.gather(*(hold(f"process-{n}") for n in range(5)))
    assert sum(held) == 1
