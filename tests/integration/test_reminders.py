"""Reminders on SQLite and PostgreSQL: planned once, sent once at the right moment, never to a
customer who claimed the deal, unsubscribed or blocked the bot, nor after the deal is over or
sold out, nor at night; one scheduler among several processes."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.assembly import App, build_app
from bot.delivery_port import DeliveryLimits, DeliveryPort
from domain.persistence.reminder_tables import ReminderOutboxRow
from handlers.contract import Delivery, DeliveryStatus
from scheduler.reminders import SchedulerLease, deliver_reminders, plan_reminders
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.offer_counts import set_taken
from tests.reminder_setup import (
    Clock,
    RecordingOutbox,
    beijing,
    campaign_file,
    load_campaign,
    subscribed_customers,
)

# The campaign ends at 20:00 Beijing time on 11 November: reminders at 20:00 the day before,
# 18:00 and 19:45.
ENDS = beijing(2026, 11, 11, 20, 0)
CAMPAIGN = campaign_file(beijing(2026, 11, 1, 0, 0), ENDS)


@pytest.fixture
def clock() -> Clock:
    return Clock(beijing(2026, 11, 10, 12, 0))


@pytest.fixture
async def world(database_url: str, clock: Clock) -> AsyncIterator[App]:
    app = await build_app(
        make_settings(database_url, demo_mode=True, sandbox_topup_delay_seconds=0, admin_ids="9"),
        clock=clock,
    )
    try:
        yield app
    finally:
        await app.close()


async def statuses(app: App) -> Counter[str]:
    async with app.engine.connect() as connection:
        rows = await connection.execute(select(ReminderOutboxRow.status, ReminderOutboxRow.reason))
        return Counter(f"{status}:{reason}" if reason else status for status, reason in rows)


async def test_each_reminder_is_planned_once_and_sent_once_when_due(
    world: App, clock: Clock
) -> None:
    campaign_id = await load_campaign(world, CAMPAIGN)
    await subscribed_customers(world, campaign_id, range(101, 104))
    outbox = RecordingOutbox()

    assert await plan_reminders(world.services) == 9  # 3 customers x 3 countdown reminders
    assert await plan_reminders(world.services) == 0
    assert await deliver_reminders(world.services, outbox) == 0  # nothing due at noon

    clock.now = beijing(2026, 11, 10, 20, 0)
    assert await deliver_reminders(world.services, outbox) == 3
    assert await deliver_reminders(world.services, outbox) == 0
    assert outbox.to(101) == [
        "⏰ 双11充值节还剩 1 天 0 小时！\n• 前 100 笔充值享 2 倍积分（剩余 100/100 个名额）\n"
        "现在充值即可参与，先到先得。"
    ]
    [reply] = [r for chat, r in outbox.sent if chat == 101]
    assert [b.text for row in reply.buttons for b in row] == ["💰 立即充值", "🔕 不再提醒此活动"]

    clock.now = beijing(2026, 11, 11, 19, 50)  # late: "2 hours left" is stale, 15 min is due
    await plan_reminders(world.services)
    assert await deliver_reminders(world.services, outbox) == 3
    assert "还剩 10 分钟" in outbox.to(102)[-1]
    assert await statuses(world) == Counter({"sent": 6, "skipped:late": 3})


async def test_claimed_unsubscribed_and_blocked_customers_get_no_reminder(
    world: App, clock: Clock
) -> None:
    campaign_id = await load_campaign(world, CAMPAIGN)
    customers = await subscribed_customers(world, campaign_id, range(201, 205))
    await plan_reminders(world.services)

    # 201 recharges and so claims the double points; 202 unsubscribes; 203 blocked the bot.
    chat = Chat.of(world.conversation, telegram_id=201)
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press("100元")
    await chat.press("模拟支付")
    await world.services.reminders.unsubscribe(customers[202], campaign_id)
    outbox = RecordingOutbox(answers={203: Delivery(DeliveryStatus.BLOCKED, reason="Forbidden")})

    clock.now = beijing(2026, 11, 10, 20, 0)
    assert await deliver_reminders(world.services, outbox) == 1
    assert [chat for chat, _ in outbox.sent] == [204]
    clock.now = beijing(2026, 11, 11, 18, 0)
    assert await deliver_reminders(world.services, outbox) == 1  # 203 is not tried again
    assert await statuses(world) == Counter(
        {
            "sent": 2,
            "skipped:claimed": 2,
            "skipped:unsubscribed": 2,
            "failed:blocked: Forbidden": 1,
            "skipped:unreachable": 1,
            "planned": 4,  # "15 min left", not yet due
        }
    )


async def test_no_reminder_once_the_deal_is_sold_out_or_over(world: App, clock: Clock) -> None:
    campaign_id = await load_campaign(world, CAMPAIGN)
    await subscribed_customers(world, campaign_id, range(301, 303))
    await plan_reminders(world.services)
    outbox = RecordingOutbox()
    async with world.engine.begin() as connection:
        await set_taken(connection)
    clock.now = beijing(2026, 11, 10, 20, 0)
    assert await deliver_reminders(world.services, outbox) == 0
    async with world.engine.begin() as connection:
        await set_taken(connection, 0)
    clock.now = ENDS
    assert await deliver_reminders(world.services, outbox) == 0
    assert outbox.sent == []
    assert await statuses(world) == Counter({"skipped:sold_out": 2, "skipped:over": 4})


async def test_slots_left_reminder_when_the_quota_reaches_the_threshold(
    world: App, clock: Clock
) -> None:
    campaign_id = await load_campaign(world, CAMPAIGN)
    await subscribed_customers(world, campaign_id, range(401, 403))
    outbox = RecordingOutbox()
    await plan_reminders(world.services)
    async with world.engine.begin() as connection:
        await set_taken(connection, 93)  # 7 left: under 10
    assert await plan_reminders(world.services) == 2
    assert await plan_reminders(world.services) == 0
    assert await deliver_reminders(world.services, outbox) == 2
    assert outbox.to(401) == [
        "🔥 双11充值节：前 100 笔充值享 2 倍积分，仅剩 7 个名额！\n活动还剩 1 天 8 小时。\n"
        "现在充值即可参与，先到先得。"
    ]


async def test_a_reminder_due_at_night_waits_for_the_morning(world: App, clock: Clock) -> None:
    # Ends 09:00: "2 hours left" would be 07:00, inside the quiet hours (22:00-08:00).
    text = campaign_file(beijing(2026, 11, 1, 0, 0), beijing(2026, 11, 11, 9, 0), countdown="[120]")
    campaign_id = await load_campaign(world, text)
    await subscribed_customers(world, campaign_id, range(501, 502))
    await plan_reminders(world.services)
    outbox = RecordingOutbox()
    clock.now = beijing(2026, 11, 11, 7, 30)
    assert await deliver_reminders(world.services, outbox) == 0
    clock.now = beijing(2026, 11, 11, 8, 0)
    assert await deliver_reminders(world.services, outbox) == 1
    assert "还剩 1 小时 0 分" in outbox.to(501)[0]


async def test_a_reminder_found_due_during_the_night_is_moved_to_the_morning(
    world: App, clock: Clock
) -> None:
    # Due 21:00, but the bot was down until 23:00: it goes at 08:00, still before the end.
    text = campaign_file(
        beijing(2026, 11, 1, 0, 0), beijing(2026, 11, 12, 23, 0), countdown="[1560]"
    )
    campaign_id = await load_campaign(world, text)
    await subscribed_customers(world, campaign_id, range(601, 602))
    await plan_reminders(world.services)
    outbox = RecordingOutbox()
    clock.now = beijing(2026, 11, 11, 23, 0)
    assert await deliver_reminders(world.services, outbox) == 0
    async with world.engine.connect() as connection:
        due = (await connection.execute(select(ReminderOutboxRow.due_at))).scalar_one()
    assert due == beijing(2026, 11, 12, 8, 0)


async def test_only_one_process_runs_the_scheduler(world: App, clock: Clock) -> None:
    first = SchedulerLease(world.services, 60, holder="worker-1")
    second = SchedulerLease(world.services, 60, holder="worker-2")
    assert await first.held()
    assert not await second.held()
    assert await first.held()  # renewed
    campaign_id = await load_campaign(world, CAMPAIGN)
    await subscribed_customers(world, campaign_id, range(701, 702))
    assert await plan_reminders(world.services, second) == 0
    clock.advance(seconds=61)  # worker-1 stopped renewing
    assert await second.held()
    assert not await first.held()
    assert await plan_reminders(world.services, second) == 3


async def test_every_due_reminder_is_sent_exactly_once_however_often_sending_is_cut_short(
    world: App, clock: Clock
) -> None:
    campaign_id = await load_campaign(world, CAMPAIGN)
    await subscribed_customers(world, campaign_id, range(1001, 1041))
    await plan_reminders(world.services)
    clock.now = beijing(2026, 11, 10, 20, 0)
    target = RecordingOutbox(delay=0.002)
    port = DeliveryPort(target, DeliveryLimits(global_per_second=400, chat_per_second=5))
    rounds = 0
    random.seed(5)
    while True:
        rounds += 1
        task = asyncio.create_task(deliver_reminders(world.services, port, batch=7, concurrency=4))
        await asyncio.sleep(random.uniform(0.0, 0.03))
        if task.done():
            await task
            if await deliver_reminders(world.services, port) == 0:
                break
            continue
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert rounds > 2  # it was cut short several times
    assert Counter(chat for chat, _ in target.sent) == {n: 1 for n in range(1001, 1041)}
    assert await statuses(world) == Counter({"sent": 40, "planned": 80})
