"""Campaign pushes on SQLite and PostgreSQL: planned once, sent once in each customer's
language, only with consent, at most once a day per customer across broadcasts, never at
night, never about an offer taken, sold out or over; two senders never send the same row."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import pytest

from bot.assembly import App, build_app
from bot.delivery_port import DeliveryLimits, DeliveryPort
from domain.broadcasts import Audience, PushContent, PushSkip, PushTarget
from domain.holdout import in_control
from handlers.contract import Delivery, DeliveryStatus
from scheduler.broadcasts import deliver_broadcasts, plan_broadcasts, sweep_broadcasts
from tests.broadcasts.setup import PUSH, STAFF_ID, customers, statuses
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.offer_counts import set_taken
from tests.reminder_setup import Clock, RecordingOutbox, beijing, campaign_file, load_campaign

ENDS = beijing(2026, 11, 11, 20, 0)
CAMPAIGN = campaign_file(beijing(2026, 11, 1, 0, 0), ENDS)


def labels(outbox: RecordingOutbox, chat_id: int) -> list[str]:
    [reply] = [reply for chat, reply in outbox.sent if chat == chat_id]
    return [button.text for row in reply.buttons for button in row]


async def test_a_broadcast_reaches_everyone_once_in_their_language(world: App) -> None:
    await customers(world, range(101, 103))
    await customers(world, range(103, 104), language="en")
    outbox = RecordingOutbox()
    broadcast_id = await world.services.broadcasts.create(PUSH, STAFF_ID)

    assert await plan_broadcasts(world.services) == 3
    assert await plan_broadcasts(world.services) == 0
    assert await deliver_broadcasts(world.services, outbox) == 3
    assert await sweep_broadcasts(world.services, outbox) == 0

    assert outbox.to(101) == ["双11充值节今晚开始，充值享双倍积分！"]
    assert outbox.to(103) == ["Double 11 starts tonight: double points on every recharge!"]
    assert labels(outbox, 101) == ["🎁 查看优惠", "📱 立即充值", "🔕 不再接收活动推送"]
    assert labels(outbox, 103) == [
        "🎁 See the offers",
        "📱 Recharge now",
        "🔕 No more campaign messages",
    ]
    assert await statuses(world) == Counter({"sent": 3})
    progress = await world.services.broadcasts.progress(broadcast_id)
    assert (progress.status.value, progress.sent, progress.queued) == ("done", 3, 0)


async def test_turning_pushes_off_stops_every_queued_push_at_once(world: App, clock: Clock) -> None:
    ids = await customers(world, range(201, 204))
    outbox = RecordingOutbox()
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    tomorrow = clock.now.replace(day=11)
    later = await world.services.broadcasts.create(PUSH, STAFF_ID, send_at=tomorrow)
    await world.services.broadcasts.pause(later, STAFF_ID)
    await world.services.broadcasts.resume(later, STAFF_ID)
    await plan_broadcasts(world.services)

    # 201 turns pushes off from /notifications before anything is sent.
    chat = Chat.of(world.conversation, telegram_id=201)
    await chat.send("/notifications")
    assert "已开启" in chat.text
    await chat.press("关闭活动推送")
    assert chat.last.notice == "已关闭活动推送"
    assert "已关闭" in chat.text
    assert await deliver_broadcasts(world.services, outbox) == 2
    assert [n for n, _ in outbox.sent] == [202, 203]

    # 202 taps "no more" on the push it got: tomorrow's push to it is never planned.
    reply = next(reply for n, reply in outbox.sent if n == 202)
    off = [b for row in reply.buttons for b in row][-1]
    await Chat.of(world.conversation, telegram_id=202).press_data(off.data or "")
    clock.now = tomorrow
    assert await sweep_broadcasts(world.services, outbox) == 1
    assert [n for n, _ in outbox.sent] == [202, 203, 203]
    assert await statuses(world) == Counter({"sent": 3, "skipped:opted_out": 1})
    assert not await world.services.broadcasts.pushes_on(ids[201])

    # On again: the next broadcast reaches 201.
    await chat.send("/notifications")
    await chat.press("开启活动推送")
    assert "已开启" in chat.text
    clock.now = clock.now.replace(day=12)
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 2
    assert [n for n, _ in outbox.sent][-2:] == [201, 203]


async def test_a_push_already_queued_is_skipped_when_its_customer_turns_pushes_off(
    world: App,
) -> None:
    ids = await customers(world, range(251, 253))
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    await plan_broadcasts(world.services)
    assert await world.services.broadcasts.turn_pushes(ids[251], on=False) == 1
    outbox = RecordingOutbox()
    assert await deliver_broadcasts(world.services, outbox) == 1
    assert await statuses(world) == Counter({"sent": 1, "skipped:opted_out": 1})


async def test_at_most_one_push_a_day_across_broadcasts(world: App, clock: Clock) -> None:
    await customers(world, range(301, 303))
    outbox = RecordingOutbox()
    first = await world.services.broadcasts.create(PUSH, STAFF_ID)
    second = await world.services.broadcasts.create(PUSH, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 2
    assert await statuses(world, first) == Counter({"sent": 2})
    assert await statuses(world, second) == Counter({"skipped:frequency_cap": 2})

    # A new day in China (midnight Beijing time) is a new allowance; 07:59 is still quiet.
    clock.now = beijing(2026, 11, 11, 7, 59)
    third = await world.services.broadcasts.create(PUSH, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 0
    clock.now = beijing(2026, 11, 11, 8, 0)
    assert await sweep_broadcasts(world.services, outbox) == 2
    assert await statuses(world, third) == Counter({"sent": 2})


async def test_the_frequency_cap_holds_with_concurrent_senders(world: App) -> None:
    """Ten broadcasts to the same customers, sent by five senders at once: each customer gets
    exactly one push (the cap), whichever sender wins."""
    await customers(world, range(351, 356))
    for _ in range(10):
        await world.services.broadcasts.create(PUSH, STAFF_ID)
    await plan_broadcasts(world.services)
    outbox = RecordingOutbox(delay=0.001)
    await asyncio.gather(
        *(deliver_broadcasts(world.services, outbox, batch=3, concurrency=2) for _ in range(5))
    )
    assert Counter(n for n, _ in outbox.sent) == {n: 1 for n in range(351, 356)}
    assert await statuses(world) == Counter({"sent": 5, "skipped:frequency_cap": 45})


async def test_no_push_about_an_offer_taken_sold_out_or_over(world: App, clock: Clock) -> None:
    campaign_id = await load_campaign(world, CAMPAIGN)
    await customers(world, range(401, 404))
    # 401 recharges and so takes the campaign's offer.
    chat = Chat.of(world.conversation, telegram_id=401)
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press("100元")
    await chat.press("模拟支付")
    outbox = RecordingOutbox()
    taken = await world.services.broadcasts.create(PUSH, STAFF_ID, campaign_id=campaign_id)
    assert await sweep_broadcasts(world.services, outbox) == 2
    assert await statuses(world, taken) == Counter({"sent": 2, "skipped:taken": 1})

    clock.now = beijing(2026, 11, 11, 12, 0)
    async with world.engine.begin() as connection:
        await set_taken(connection)
    sold_out = await world.services.broadcasts.create(PUSH, STAFF_ID, campaign_id=campaign_id)
    assert await sweep_broadcasts(world.services, outbox) == 0
    assert await statuses(world, sold_out) == Counter({"skipped:sold_out": 3})

    clock.now = ENDS
    async with world.engine.begin() as connection:
        await set_taken(connection, 0)
    over = await world.services.broadcasts.create(PUSH, STAFF_ID, campaign_id=campaign_id)
    assert await sweep_broadcasts(world.services, outbox) == 0
    assert await statuses(world, over) == Counter({"skipped:over": 3})


async def test_nothing_is_sent_in_quiet_hours(world: App, clock: Clock) -> None:
    await customers(world, range(451, 453))
    clock.now = beijing(2026, 11, 10, 22, 30)
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 0
    assert await statuses(world) == Counter({"planned": 2})
    clock.now = beijing(2026, 11, 11, 8, 0)
    assert await sweep_broadcasts(world.services, outbox) == 2


async def test_a_blocked_customer_is_not_tried_again_and_keeps_the_days_allowance(
    world: App,
) -> None:
    await customers(world, range(501, 503))
    outbox = RecordingOutbox(answers={501: Delivery(DeliveryStatus.BLOCKED, reason="Forbidden")})
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 1
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 0
    assert await statuses(world) == Counter(
        {"sent": 1, "failed:blocked: Forbidden": 1, "skipped:frequency_cap": 1}
    )
    # 501 unblocks and turns pushes on: the failed push gave back its place in the day's cap.
    await world.services.broadcasts.turn_pushes(
        (await customers(world, range(501, 502)))[501], True
    )
    outbox.answers.clear()
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 1
    assert [n for n, _ in outbox.sent] == [502, 501]


async def test_pause_resume_and_cancel_are_recorded_and_obeyed(world: App) -> None:
    await customers(world, range(601, 604))
    outbox = RecordingOutbox()
    paused = await world.services.broadcasts.create(PUSH, STAFF_ID)
    assert await world.services.broadcasts.pause(paused, STAFF_ID)
    assert not await world.services.broadcasts.pause(paused, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 0
    assert await world.services.broadcasts.resume(paused, STAFF_ID + 1)
    assert await world.services.broadcasts.cancel(paused, STAFF_ID)
    assert not await world.services.broadcasts.resume(paused, STAFF_ID)
    assert await sweep_broadcasts(world.services, outbox) == 0
    assert outbox.sent == []
    assert [(who, what) for who, what, _ in await world.services.broadcasts.actions(paused)] == [
        (STAFF_ID, "create"),
        (STAFF_ID, "send"),
        (STAFF_ID, "pause"),
        (STAFF_ID + 1, "resume"),
        (STAFF_ID, "cancel"),
    ]
    # The audit trail holds them too.
    audited = [
        (r.entry.action.value, r.entry.actor_id, r.entry.subject)
        for r in await world.services.audit.recent()
    ]
    assert audited == [
        ("broadcast_cancelled", STAFF_ID, f"broadcast:{paused}"),
        ("broadcast_resumed", STAFF_ID + 1, f"broadcast:{paused}"),
        ("broadcast_paused", STAFF_ID, f"broadcast:{paused}"),
        ("broadcast_sent", STAFF_ID, f"broadcast:{paused}"),
    ]


async def test_every_push_is_sent_exactly_once_however_often_sending_is_cut_short(
    world: App,
) -> None:
    await customers(world, range(1001, 1041))
    await world.services.broadcasts.create(PUSH, STAFF_ID)
    await plan_broadcasts(world.services)
    target = RecordingOutbox(delay=0.002)
    port = DeliveryPort(target, DeliveryLimits(global_per_second=400, chat_per_second=5))
    rounds = 0
    random.seed(7)
    while True:
        rounds += 1
        task = asyncio.create_task(deliver_broadcasts(world.services, port, batch=7, concurrency=4))
        await asyncio.sleep(random.uniform(0.0, 0.03))
        if task.done():
            await task
            if await deliver_broadcasts(world.services, port) == 0:
                break
            continue
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert rounds > 2
    assert Counter(n for n, _ in target.sent) == {n: 1 for n in range(1001, 1041)}
    assert await statuses(world) == Counter({"sent": 40})


async def test_two_processes_never_send_the_same_push(database_url: str, clock: Clock) -> None:
    settings = make_settings(database_url, demo_mode=True, admin_ids=str(STAFF_ID))
    first = await build_app(settings, clock=clock)
    second = await build_app(settings, migrate=False, clock=clock)
    try:
        await customers(first, range(2001, 2031))
        await first.services.broadcasts.create(
            PushContent("新活动", "New campaign", (PushTarget.OFFERS,)), STAFF_ID
        )
        await plan_broadcasts(first.services)
        outbox = RecordingOutbox(delay=0.001)
        sent = await asyncio.gather(
            deliver_broadcasts(first.services, outbox, batch=4, concurrency=2),
            deliver_broadcasts(second.services, outbox, batch=4, concurrency=2),
        )
    finally:
        await first.close()
        await second.close()
    assert sum(sent) == 30
    assert Counter(n for n, _ in outbox.sent) == {n: 1 for n in range(2001, 2031)}


async def test_no_push_about_a_campaign_to_its_control_group(world: App) -> None:
    text = CAMPAIGN.replace("countdown_minutes", "holdout_percent = 50\ncountdown_minutes", 1)
    campaign_id = await load_campaign(world, text)
    ids = await customers(world, range(701, 721))
    control = {n for n, c in ids.items() if in_control("double-11", c, 50)}
    assert 0 < len(control) < 20
    reach = await world.services.broadcasts.reach(Audience(), about=campaign_id)
    assert (reach.matching, reach.excluded) == (20, {PushSkip.HOLDOUT: len(control)})

    outbox = RecordingOutbox()
    await world.services.broadcasts.create(PUSH, STAFF_ID, campaign_id=campaign_id)
    assert await sweep_broadcasts(world.services, outbox) == 20 - len(control)
    assert {n for n, _ in outbox.sent} == set(ids) - control
    assert await statuses(world) == Counter(
        {"sent": 20 - len(control), "skipped:holdout": len(control)}
    )


async def test_with_consent_required_only_customers_who_agreed_to_marketing_get_pushes(
    sqlite_url: str, clock: Clock
) -> None:
    settings = make_settings(
        sqlite_url, demo_mode=True, admin_ids=str(STAFF_ID), privacy_consent_required=True
    )
    app = await build_app(settings, clock=clock)
    try:
        ids = await customers(app, range(801, 804))
        await app.services.consent.accept(ids[801], marketing=True)
        await app.services.consent.accept(ids[802], marketing=False)
        # 803 never answered the privacy notice.
        reach = await app.services.broadcasts.reach(Audience())
        assert reach.excluded == {PushSkip.NO_CONSENT: 2}
        outbox = RecordingOutbox()
        await app.services.broadcasts.create(PUSH, STAFF_ID)
        assert await sweep_broadcasts(app.services, outbox) == 1
        assert [n for n, _ in outbox.sent] == [801]

        # 802 turns pushes on with /notifications: that is their consent to marketing.
        chat = Chat.of(app.conversation, telegram_id=802)
        await chat.send("/notifications")
        await chat.press("关闭活动推送")
        await chat.press("开启活动推送")
        clock.now = clock.now + timedelta(days=1)
        await app.services.broadcasts.create(PUSH, STAFF_ID)
        assert await sweep_broadcasts(app.services, outbox) == 2
        assert [n for n, _ in outbox.sent] == [801, 801, 802]
    finally:
        await app.close()
