"""Reminders and broadcasts through every service at once (`build_services`) on the fake unit
of work: each test in milliseconds. The same bodies run on a database when `units` is given
one (`UnitOfWorkFactory.of(engine)`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.broadcasts import Audience, PushContent
from domain.campaign_file import parse_campaign_file
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.orders import PaymentMethod
from domain.reminders import WHOLE_CAMPAIGN
from domain.repositories.services import ServicesUnitOfWorkFactory
from domain.services.registry import Ports, Services, build_services
from tests.fakes.clock import ManualClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF = 9


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


# Reminders 1 day, 2 hours and 15 minutes before the end (20:00 on 11 November, Beijing).
CAMPAIGN = """
[[campaigns]]
code = "double-11"
name_zh = "双11充值节"
name_en = "Double 11"
terms_zh = "前100笔充值享双倍积分。"
terms_en = "The first 100 recharges earn double points."
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T20:00:00+08:00
countdown_minutes = [1440, 120, 15]

[[campaigns.offers]]
code = "first-double"
kind = "points_multiplier"
multiplier = 2
quota = 100
per_customer = 1
"""


@pytest.fixture
def units() -> ServicesUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(beijing(10, 12))  # noon in Beijing: outside quiet hours


@pytest.fixture
def services(units: ServicesUnitOfWorkFactory, clock: ManualClock) -> Services:
    ports = Ports(
        gateway=SandboxGateway(timedelta(0), clock),
        providers={PaymentMethod.SANDBOX: SandboxPayments()},
    )
    return build_services(units, clock, ports=ports)


async def a_campaign(services: Services) -> int:
    await services.campaigns.load(parse_campaign_file(CAMPAIGN))
    return (await services.reminders.campaign_ids())["double-11"]


async def customers(services: Services, telegram_ids: range) -> dict[int, int]:
    """Customers who wrote to the bot: telegram id -> customer id."""
    found = {}
    for telegram_id in telegram_ids:
        profile = TelegramProfile(telegram_id, f"客户{telegram_id}", None, None, "zh-hans")
        turn = await services.customers.begin_turn(profile, telegram_id)
        found[telegram_id] = turn.customer.id
    return found


async def subscribed(services: Services, campaign_id: int, telegram_ids: range) -> dict[int, int]:
    found = await customers(services, telegram_ids)
    for telegram_id, customer_id in found.items():
        assert await services.reminders.toggle(
            customer_id, telegram_id, campaign_id, WHOLE_CAMPAIGN
        )
    return found


async def test_a_reminder_due_is_sent_once_to_each_subscriber(
    services: Services, clock: ManualClock
) -> None:
    campaign_id = await a_campaign(services)
    await subscribed(services, campaign_id, range(101, 104))
    await customers(services, range(104, 106))  # never asked for reminders

    assert await services.reminders.plan() == 9  # 3 subscribers x 3 countdown reminders
    assert await services.reminders.plan() == 0
    assert await services.reminders.claim_due(10) == []  # nothing due at noon

    clock.now = beijing(10, 20)  # one day left
    due = await services.reminders.claim_due(10)
    assert sorted(reminder.chat_id for reminder in due) == [101, 102, 103]
    assert await services.reminders.claim_due(10) == []  # each is taken once
    for n, reminder in enumerate(due):
        assert await services.reminders.sent(reminder.outbox_id, 500 + n)
        assert not await services.reminders.sent(reminder.outbox_id, 600 + n)
    [progress] = await services.reminders.progress()
    assert (progress.campaign_id, progress.sent, progress.pending) == (campaign_id, 3, 6)


async def test_senders_at_once_send_each_due_reminder_once(
    services: Services, clock: ManualClock
) -> None:
    campaign_id = await a_campaign(services)
    await subscribed(services, campaign_id, range(201, 211))
    await services.reminders.plan()
    clock.now = beijing(10, 20)
    at_once = await asyncio.gather(*(services.reminders.claim_due(4) for _ in range(4)))
    taken = [reminder.outbox_id for due in at_once for reminder in due]
    assert len(taken) == len(set(taken))
    rest = [reminder.outbox_id for reminder in await services.reminders.claim_due(10)]
    assert not set(rest) & set(taken) and len(taken) + len(rest) == 10


async def test_a_broadcast_to_a_segment_is_queued_once_per_recipient_and_sent_once(
    services: Services,
) -> None:
    campaign_id = await a_campaign(services)
    segment = await subscribed(services, campaign_id, range(301, 305))  # asked for reminders
    await customers(services, range(305, 308))  # not in the segment
    quiet = segment[304]
    await services.broadcasts.turn_pushes(quiet, False)
    audience = Audience(reminders_of=campaign_id)

    reach = await services.broadcasts.reach(audience)
    assert (reach.matching, reach.reachable) == (4, 3)
    broadcast_id = await services.broadcasts.create(
        PushContent("双11最后一天！", "Last day of Double 11!"), STAFF, audience=audience
    )
    assert await services.broadcasts.plan() == 3  # the segment, less who turned pushes off
    assert await services.broadcasts.plan() == 0

    claimed = await services.broadcasts.claim_due(10)
    assert sorted(push.chat_id for push in claimed.due) == [301, 302, 303]
    assert (await services.broadcasts.claim_due(10)).due == []
    for n, push in enumerate(claimed.due):
        assert await services.broadcasts.sent(push.outbox_id, 700 + n)
        assert not await services.broadcasts.sent(push.outbox_id, 800 + n)
    progress = await services.broadcasts.progress(broadcast_id)
    assert (progress.sent, progress.queued) == (3, 0)


async def test_senders_at_once_send_each_push_once(services: Services) -> None:
    await customers(services, range(401, 413))
    await services.broadcasts.create(PushContent("充值有礼", "Recharge gifts"), STAFF)
    assert await services.broadcasts.plan() == 12
    at_once = await asyncio.gather(*(services.broadcasts.claim_due(5) for _ in range(4)))
    taken = [push.customer_id for claimed in at_once for push in claimed.due]
    assert len(taken) == len(set(taken))
    rest = [push.customer_id for push in (await services.broadcasts.claim_due(12)).due]
    assert not set(rest) & set(taken) and len(taken) + len(rest) == 12
