"""A broadcast through each front end's sender and the rate-limited delivery port, over real
HTTP against the fake Bot API server: sent once to each customer with its buttons, paused and
resumed, then taken back by staff and deleted from every chat; and one cancelled while it goes
out, which sends nothing more."""

from __future__ import annotations

import asyncio

import pytest

from bot.assembly import build_app
from domain.broadcasts import PushSkip
from handlers.contract import Notifier
from scheduler.broadcasts import deliver_broadcasts, plan_broadcasts, sweep_broadcasts
from tests.broadcasts.setup import PUSH, STAFF_ID, customers
from tests.conftest import make_settings
from tests.e2e.test_reminder_delivery import FRONT_ENDS, SenderFactory
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.handlers.chat import Chat

pytestmark = pytest.mark.timeout(60)
CUSTOMERS = range(7001, 7006)


@pytest.mark.parametrize("sender", FRONT_ENDS)
async def test_a_broadcast_goes_out_and_is_taken_back_through_each_front_end(
    sqlite_url: str, sender: SenderFactory
) -> None:
    async with FakeBotApi(enforce_limits=True) as api:
        for telegram_id in CUSTOMERS:
            api.add_user(FakeUser(telegram_id, "客户"))
        settings = make_settings(
            sqlite_url,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            quiet_hours="off",
            admin_ids=str(STAFF_ID),
        )
        app = await build_app(settings)
        try:
            async with sender(settings) as notifier:
                front_end: Notifier = notifier
                app.outbound.attach(front_end)
                await customers(app, CUSTOMERS)
                broadcast_id = await app.services.broadcasts.create(PUSH, STAFF_ID)
                await app.services.broadcasts.pause(broadcast_id, STAFF_ID)
                assert await sweep_broadcasts(app.services, app.delivery) == 0
                await app.services.broadcasts.resume(broadcast_id, STAFF_ID)
                assert await sweep_broadcasts(app.services, app.delivery) == len(CUSTOMERS)
                for telegram_id in CUSTOMERS:
                    [message] = api.messages_to(telegram_id)
                    assert message["text"] == PUSH.text_zh
                    rows = message["reply_markup"]["inline_keyboard"]
                    assert [row[0]["text"] for row in rows] == [
                        "🎁 查看优惠",
                        "📱 立即充值",
                        "🔕 不再接收活动推送",
                    ]

                staff = Chat.of(app.conversation, telegram_id=STAFF_ID)
                await staff.send("/broadcasts")
                await staff.press("撤回已发消息")
                assert "确定要撤回推送 #1 吗？" in staff.text
                await staff.press("确定撤回")
                assert "5 条消息将从客户的聊天中删除" in staff.text
                await sweep_broadcasts(app.services, app.delivery)
                assert sorted(chat for chat, _ in api.deleted) == list(CUSTOMERS)
                for telegram_id in CUSTOMERS:
                    assert api.messages_to(telegram_id) == []
                await staff.send("/broadcasts")
                assert "已撤回：5" in staff.text
                actions = await app.services.broadcasts.actions(broadcast_id)
                assert [what for _, what, _ in actions] == [
                    "create",
                    "send",
                    "pause",
                    "resume",
                    "delete",
                ]
                assert api.too_many_requests == 0
        finally:
            await app.close()


@pytest.mark.parametrize("sender", FRONT_ENDS)
async def test_a_broadcast_cancelled_while_it_goes_out_sends_nothing_more(
    sqlite_url: str, sender: SenderFactory
) -> None:
    async with FakeBotApi(enforce_limits=True) as api:
        for telegram_id in CUSTOMERS:
            api.add_user(FakeUser(telegram_id, "客户"))
        settings = make_settings(
            sqlite_url,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            quiet_hours="off",
            admin_ids=str(STAFF_ID),
        )
        app = await build_app(settings)
        try:
            async with sender(settings) as notifier:
                app.outbound.attach(notifier)
                await customers(app, CUSTOMERS)
                broadcast_id = await app.services.broadcasts.create(PUSH, STAFF_ID)
                assert await plan_broadcasts(app.services) == len(CUSTOMERS)
                held = api.hold(CUSTOMERS[2])  # Telegram is slow to take this one
                sending = asyncio.create_task(
                    deliver_broadcasts(app.services, app.delivery, batch=1, concurrency=1)
                )
                await api.wait_for(
                    lambda: any(c["chat_id"] == CUSTOMERS[2] for c in api.calls_to("sendMessage")),
                    what="the held push on its way",
                )
                assert await app.services.broadcasts.cancel(broadcast_id, STAFF_ID)
                held.set()
                await sending
                assert await sweep_broadcasts(app.services, app.delivery) == 0
                got = [n for n in CUSTOMERS for _ in api.messages_to(n)]
                assert len(got) == len(set(got)) < len(CUSTOMERS)  # each once, not everyone
                progress = await app.services.broadcasts.progress(broadcast_id)
                assert (progress.sent, progress.queued) == (len(got), 0)
                assert progress.skipped == {PushSkip.CANCELLED: len(CUSTOMERS) - len(got)}
                actions = await app.services.broadcasts.actions(broadcast_id)
                assert [what for _, what, _ in actions][-1] == "cancel"
                assert api.too_many_requests == 0
        finally:
            await app.close()
