"""Paid broadcasts: a broadcast staff mark urgent goes out with Telegram's allow_paid_broadcast,
at the higher paid rate, only while the settings allow it; staff see its cost in Stars before
sending, and the urgent mark is recorded with who and when."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import update

from bot.assembly import App, build_app
from bot.delivery_port import DeliveryLimits, RateLimiter
from domain.broadcasts import paid_cost
from domain.persistence.broadcast_tables import BroadcastRow
from domain.services.broadcasts import PaidBroadcastsOff
from scheduler.broadcasts import sweep_broadcasts
from tests.broadcasts.setup import PUSH, STAFF_ID, customers
from tests.conftest import make_settings
from tests.e2e.test_reminder_delivery import FRONT_ENDS, SenderFactory
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.handlers.chat import Chat
from tests.reminder_setup import Clock, RecordingOutbox, beijing

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def paid_world(sqlite_url: str, **overrides: object) -> AsyncIterator[App]:
    settings = make_settings(
        sqlite_url,
        admin_ids=str(STAFF_ID),
        quiet_hours="off",
        broadcast_daily_cap=5,
        **({"broadcast_paid_allowed": True} | overrides),
    )
    app = await build_app(settings, clock=Clock(beijing(2026, 11, 10, 12, 0)))
    try:
        yield app
    finally:
        await app.close()


def test_the_cost_is_recipients_times_the_price_in_stars() -> None:
    assert paid_cost(1234, Decimal("0.1")) == Decimal("123.4")
    assert paid_cost(10, Decimal("0.1")) == Decimal(1)
    assert paid_cost(0, Decimal("0.1")) == 0


async def test_only_paid_messages_go_beyond_the_free_rate() -> None:
    now = 100.0
    limiter = RateLimiter(
        DeliveryLimits(global_per_second=30, paid_per_second=100), clock=lambda: now
    )
    for chat in range(1, 31):
        await limiter.acquire(chat)
        limiter.release(chat)
    # The free rate is used up: an unpaid message waits, a paid one goes.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(31), 0.05)
    for chat in range(32, 102):
        await asyncio.wait_for(limiter.acquire(chat, paid=True), 0.05)
        limiter.release(chat)
    # 100 in the second: the paid rate is used up too.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(200, paid=True), 0.05)


async def test_an_urgent_broadcast_is_sent_paid_only_while_allowed(sqlite_url: str) -> None:
    async with paid_world(sqlite_url) as app:
        await customers(app, range(11, 14))
        broadcasts = app.services.broadcasts
        urgent = await broadcasts.create(PUSH, STAFF_ID, urgent=True)
        outbox = RecordingOutbox()
        assert await sweep_broadcasts(app.services, outbox) == 3
        assert all(reply.paid_broadcast for _, reply in outbox.sent)
        usual = await broadcasts.create(PUSH, STAFF_ID)
        outbox = RecordingOutbox()
        assert await sweep_broadcasts(app.services, outbox) == 3
        assert not any(reply.paid_broadcast for _, reply in outbox.sent)

        # Paid broadcasts turned off: an urgent broadcast goes out free, none can be created.
        broadcasts.config = replace(broadcasts.config, paid_allowed=False)
        still_urgent = await broadcasts.create(PUSH, STAFF_ID)
        async with app.engine.begin() as connection:
            await connection.execute(
                update(BroadcastRow).where(BroadcastRow.id == still_urgent).values(urgent=True)
            )
        outbox = RecordingOutbox()
        assert await sweep_broadcasts(app.services, outbox) == 3
        assert not any(reply.paid_broadcast for _, reply in outbox.sent)
        with pytest.raises(PaidBroadcastsOff):
            await broadcasts.create(PUSH, STAFF_ID, urgent=True)

        actions = [what for _, what, _ in await broadcasts.actions(urgent)]
        assert actions == ["create", "urgent", "send"]
        assert [what for _, what, _ in await broadcasts.actions(usual)] == ["create", "send"]
        audited = [
            (r.entry.action.value, r.entry.subject)
            for r in await app.services.audit.recent()
            if r.entry.subject == f"broadcast:{urgent}"
        ]
        assert ("broadcast_urgent", f"broadcast:{urgent}") in audited


async def review(staff: Chat) -> None:
    await staff.send("/broadcast")
    await staff.send("限时加急通知")
    await staff.send("Flash notice")
    await staff.press("下一步")
    await staff.press("不针对具体活动")
    await staff.press("确认受众")


async def test_staff_see_the_cost_before_sending_an_urgent_broadcast(sqlite_url: str) -> None:
    async with paid_world(sqlite_url, broadcast_paid_stars="0.1") as app:
        await customers(app, range(21, 23))
        staff = Chat.of(app.conversation, telegram_id=STAFF_ID)
        await review(staff)
        assert "发送方式：免费，按常规速度" in staff.text
        await staff.press("⚡ 标记为紧急（付费广播）")
        # Two customers and the staff member: at most 3 × 0.1 Stars.
        assert "最多花费 0.3 个 Telegram 星星（3 × 0.1）" in staff.text
        assert "每秒最多 1000 条" in staff.text
        await staff.press("立即发送")
        assert "最多花费 0.3 个 Telegram 星星" in staff.text
        row = (await app.services.broadcasts.recent(1))[0]
        actions = await app.services.broadcasts.actions(row.broadcast_id)
        assert [(who, what) for who, what, _ in actions] == [
            (STAFF_ID, "create"),
            (STAFF_ID, "urgent"),
            (STAFF_ID, "send"),
        ]
        await staff.send("/broadcasts")
        assert "⚡ 紧急（付费广播）" in staff.text.splitlines()
        await review(staff)
        await staff.press("立即发送")  # not urgent
        await staff.send("/broadcasts")
        assert "紧急" not in staff.replies[0].text  # the newest first
        assert "⚡ 紧急（付费广播）" in staff.replies[1].text

    async with paid_world(sqlite_url + "-off", broadcast_paid_allowed=False) as app:
        staff = Chat.of(app.conversation, telegram_id=STAFF_ID)
        await review(staff)
        assert "紧急" not in staff.text
        assert not [b for b in staff.buttons() if "紧急" in b.text]


async def test_the_cost_reads_in_english(sqlite_url: str) -> None:
    async with paid_world(sqlite_url) as app:
        staff = Chat.of(app.conversation, telegram_id=STAFF_ID, language="en")
        await staff.send("/broadcast")
        await staff.send("限时加急通知")
        await staff.send("Flash notice")
        await staff.press("Next")
        await staff.press("No particular campaign")
        await staff.press("Audience done")
        await staff.press("⚡ Mark urgent (paid broadcast)")
        assert "costs at most 0.1 Telegram Stars (1 × 0.1)" in staff.text
        await staff.press("Send now")
        await staff.send("/broadcasts")
        assert "⚡ Urgent (paid broadcast)" in staff.text


@pytest.mark.parametrize("sender", FRONT_ENDS)
async def test_each_front_end_sends_allow_paid_broadcast_for_urgent_pushes_only(
    sqlite_url: str, sender: SenderFactory
) -> None:
    chats = range(8101, 8107)
    async with FakeBotApi(enforce_limits=True, global_per_second=3) as api:
        for telegram_id in chats:
            api.add_user(FakeUser(telegram_id, "客户"))
        settings = make_settings(
            sqlite_url,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            quiet_hours="off",
            admin_ids=str(STAFF_ID),
            broadcast_daily_cap=2,
            broadcast_paid_allowed=True,
            delivery_global_per_second=3,
        )
        app = await build_app(settings)
        try:
            async with sender(settings) as notifier:
                app.outbound.attach(notifier)
                await customers(app, chats)
                broadcasts = app.services.broadcasts
                await broadcasts.create(PUSH, STAFF_ID, urgent=True)
                assert await sweep_broadcasts(app.services, app.delivery) == len(chats)
                # Six at once against a free rate of three: the paid rate let them through.
                assert sorted(chat for chat, _ in api.paid_broadcasts) == list(chats)
                assert api.charged_messages > 0
                before = len(api.paid_broadcasts)
                await broadcasts.create(PUSH, STAFF_ID)
                assert await sweep_broadcasts(app.services, app.delivery) == len(chats)
                assert len(api.paid_broadcasts) == before
                sends = [c for c in api.calls if c.method == "sendMessage"]
                assert sum(1 for c in sends if c.params.get("allow_paid_broadcast")) == len(chats)
                assert sum(1 for c in sends if "allow_paid_broadcast" not in c.params) == len(chats)
                assert api.too_many_requests == 0
        finally:
            await app.close()
