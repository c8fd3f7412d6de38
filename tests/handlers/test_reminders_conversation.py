"""Reminders as a customer and staff see them: "Remind me" on offers, /reminders, the one-tap
unsubscribe on a reminder, its "recharge now", and /deliveries for staff only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.assembly import App, build_app
from bot.cli import demo_campaigns
from scheduler.reminders import deliver_reminders, plan_reminders
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.reminder_setup import Clock, RecordingOutbox

# Demo campaigns start at 10:00 Beijing time and end ten days later at 10:00.
START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
STAFF = 777


@pytest.fixture
def clock() -> Clock:
    return Clock(START + timedelta(hours=1))


@pytest.fixture
async def shop(sqlite_url: str, clock: Clock) -> AsyncIterator[App]:
    settings = make_settings(
        sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0, admin_ids=str(STAFF)
    )
    app = await build_app(settings, clock=clock)
    await app.services.campaigns.load(demo_campaigns(START))
    try:
        yield app
    finally:
        await app.close()


async def test_remind_me_on_a_limited_offer_then_listed_and_switched_off(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/offers")
    # Offers with a quota get "Remind me"; every campaign a switch for all its reminders.
    assert [b.text for b in chat.buttons() if b.text.startswith("🔔 提醒我")] == [
        "🔔 提醒我：前 100 笔充值享 2 倍积分",
        "🔔 提醒我：使用优惠码满 ¥50.00 立减 ¥5.00",
        "🔔 提醒我：搭配流量包购买立减 ¥5.00",
    ]
    await chat.press("提醒我：前 100 笔")
    assert chat.last.notice == "好的，截止前会及时提醒您。"
    assert chat.replies[0].edit and chat.button("取消提醒：前 100 笔")

    await chat.send("/reminders")
    assert chat.texts[0] == (
        "您订阅的活动提醒：\n• 数字钱包充值节：前 100 笔充值享 2 倍积分（还剩 9 天 23 小时）"
    )
    await chat.press("取消「数字钱包充值节」的提醒")
    assert chat.last.notice == "已取消提醒。"
    await chat.send("/reminders")
    assert chat.texts[0].startswith("您还没有订阅活动提醒")


async def test_a_reminder_unsubscribes_in_one_tap_and_leads_into_a_recharge(
    shop: App, clock: Clock
) -> None:
    chat = Chat.of(shop.conversation, language="en")
    await chat.send("/offers")
    await chat.press("All reminders: Digital wallet recharge festival")
    await plan_reminders(shop.services)
    clock.now = START + timedelta(days=9)  # 24 hours before the end
    outbox = RecordingOutbox()
    assert await deliver_reminders(shop.services, outbox) == 1
    [(chat_id, reminder)] = outbox.sent
    assert chat_id == chat.chat_id
    assert reminder.text.startswith("⏰ Digital wallet recharge festival: ends in 1 d 0 h!")
    assert "• The first 100 recharges earn 2× points (100 of 100 left)" in reminder.text

    chat.last.replies[:] = [reminder]
    await chat.press("Recharge now")
    assert chat.texts[0].startswith("Type the 11-digit mobile number to recharge")
    chat.last.replies[:] = [reminder]
    await chat.press("No more reminders")
    assert chat.texts[0].startswith("All reminders of this campaign are off")

    clock.now = START + timedelta(days=9, hours=22)  # 2 hours before the end
    assert await deliver_reminders(shop.services, outbox) == 0


async def test_deliveries_are_shown_to_staff_only(shop: App, clock: Clock) -> None:
    for telegram_id in (1, 2, 3):
        chat = Chat.of(shop.conversation, telegram_id=telegram_id)
        await chat.send("/offers")
        await chat.press("订阅「数字钱包充值节」全部提醒")
    await plan_reminders(shop.services)
    clock.now = START + timedelta(days=9)
    outbox = RecordingOutbox()
    await deliver_reminders(shop.services, outbox)

    customer = Chat.of(shop.conversation, telegram_id=1)
    await customer.send("/deliveries")
    assert customer.texts[0].startswith("抱歉")  # as for any unknown command
    staff = Chat.of(shop.conversation, telegram_id=STAFF)
    await staff.send("/deliveries")
    assert staff.texts == [
        "提醒发送进度：\n• 数字钱包充值节：计划 9，已发送 3，待发送 6，失败 0，跳过 0"
    ]
