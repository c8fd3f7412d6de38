"""Support end to end over the fake Bot API server, for both front ends: a complaint reaches the
staff chat (its own forum topic), a staff reply reaches the customer as "Support", the
customer's reply joins the ticket, staff resolve it and the customer's rating comes back; and
with a fake clock, a complaint left unanswered is raised in its topic and privately to a
supervisor (in the supervisor's language), who answers from there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from bot.aiogram import AiogramFrontend
from bot.assembly import App, build_app
from bot.ptb import PtbFrontend
from domain.services.registry import Ports
from domain.services.staff import StaffRole
from domain.tickets import TicketStatus
from scheduler.support import StaffChat, relay_support, sweep_support_sla
from tests.conftest import make_settings
from tests.e2e.test_aiogram_frontend import aiogram_bot
from tests.e2e.test_ptb_frontend import running_bot
from tests.fakes.bot_api import FakeBotApi, FakeGroup, FakeUser, JSONDict
from tests.integration.test_recharge import FakeClock

pytestmark = pytest.mark.timeout(30)

CUSTOMER = FakeUser(id=4001, first_name="王芳", language_code="zh-hans")
STAFF = FakeUser(id=4002, first_name="Agent Zhou")
SUPERVISOR = FakeUser(id=4003, first_name="Lee", language_code="en")
STAFF_CHAT = FakeGroup(id=-1004004, title="Support desk", is_forum=True)
FORUM = StaffChat(STAFF_CHAT.id, is_forum=True)

Bot = Callable[..., AbstractAsyncContextManager[App]]
FRONT_ENDS = [pytest.param(running_bot, id="ptb"), pytest.param(aiogram_bot, id="aiogram")]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        server.add_user(CUSTOMER)
        server.add_user(STAFF)
        server.add_user(SUPERVISOR)
        server.add_group(STAFF_CHAT, bot_is_admin=True)
        yield server
        assert not server.internal_errors


def labels(message: JSONDict) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def staff_chat_texts(api: FakeBotApi) -> list[JSONDict]:
    return [m for m in api.messages_to(STAFF_CHAT.id) if "text" in m]


async def press(api: FakeBotApi, user: FakeUser, message: JSONDict, label: str) -> JSONDict:
    """Press the button labelled `label` (exactly); the callback answer."""
    update_id = api.press_button(user, message, text=label)
    return await api.wait_for_callback_answer(update_id)


async def relay(app: App, api: FakeBotApi, expected: int = 1) -> None:
    """Run the relay sweep until `expected` messages went out (the bot may still be handling
    the update that produced them)."""
    sent = 0
    for _ in range(100):
        sent += await relay_support(app.services, app.delivery, FORUM)
        if sent >= expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"relayed {sent} of {expected}")


@pytest.mark.parametrize("bot", FRONT_ENDS)
async def test_complaint_staff_reply_customer_reply_resolve_and_csat(
    api: FakeBotApi, sqlite_url: str, bot: Bot
) -> None:
    settings: dict[str, Any] = {
        "admin_ids": str(STAFF.id),
        "staff_chat_id": STAFF_CHAT.id,
        "staff_chat_is_forum": True,
    }
    async with bot(api, sqlite_url, **settings) as app:
        # The customer complains.
        api.send_text(CUSTOMER, "/feedback")
        [welcome] = await api.wait_for_message(CUSTOMER.id)
        await press(api, CUSTOMER, welcome, "⚠️ 投诉")
        categories = await api.wait_for_edit(CUSTOMER.id)
        mark = api.mark()
        await press(api, CUSTOMER, categories, "账户或安全")
        [question] = await api.wait_for_message(CUSTOMER.id, after=mark)
        assert "请描述您遇到的问题" in question["text"]
        api.send_text(CUSTOMER, "有人盗用我的账户")
        [opened] = await api.wait_for_message(CUSTOMER.id)
        assert "已为您创建工单 #1" in opened["text"]

        # It arrives in the staff chat, in a topic of its own.
        await relay(app, api)
        [card] = staff_chat_texts(api)
        assert card["text"].startswith("🆕 工单 #1 · 🔴 加急 · 账户或安全")
        assert "有人盗用我的账户" in card["text"]
        thread = card["message_thread_id"]
        assert thread is not None and labels(card) == ["🙋 接单", "✅ 已解决"]

        # Staff answer by replying to the card; the customer sees "Support", not who.
        api.send_reply(STAFF, STAFF_CHAT.id, card, "已为您冻结账户，请修改密码")
        await relay(app, api)
        support_message = api.messages_to(CUSTOMER.id)[-1]
        assert support_message["text"] == "💬 客服（工单 #1）：已为您冻结账户，请修改密码"
        assert "Zhou" not in str(support_message)

        # The customer replies to it: the reply joins the ticket and reaches the topic.
        api.send_reply(CUSTOMER, CUSTOMER.id, support_message, "改好了，谢谢")
        [added] = await api.wait_for_message(CUSTOMER.id)
        assert "已转交客服（工单 #1）" in added["text"]
        await relay(app, api)
        note = staff_chat_texts(api)[-1]
        assert note["text"] == "💬 工单 #1 客户：改好了，谢谢"
        assert note["message_thread_id"] == thread

        # Staff resolve it from the card; the customer is asked to rate the support.
        answer = await press(api, STAFF, card, "✅ 已解决")
        assert "#1" in answer.get("text", "")
        edited = await api.wait_for_edit(STAFF_CHAT.id)
        assert edited["message_id"] == card["message_id"] and "· 已解决" in edited["text"]
        assert labels(edited) == ["↩️ 重新打开"]
        await relay(app, api)
        ask = api.messages_to(CUSTOMER.id)[-1]
        assert "工单 #1 已解决" in ask["text"] and "5⭐" in labels(ask)
        await press(api, CUSTOMER, ask, "5⭐")
        thanks = await api.wait_for_edit(CUSTOMER.id)
        assert "感谢您的评价（5 星）" in thanks["text"]

        # The CSAT reaches the staff chat.
        await relay(app, api)
        assert staff_chat_texts(api)[-1]["text"] == "⭐ 工单 #1：客户评分 5 星。"
        ticket = await app.services.support.get(1)
        assert ticket.status is TicketStatus.CLOSED and ticket.csat == 5
        await api.wait_for(lambda: not api.unanswered_callback_queries(), what="all answered")


@asynccontextmanager
async def bot_on_clock(
    frontend: str,
    api: FakeBotApi,
    database_url: str,
    clock: FakeClock,
    ports: Ports | None = None,
    **settings: Any,
) -> AsyncIterator[App]:
    """The product with a fake clock (and `ports`, the carrier and payment providers, when
    given), served by `frontend` ("ptb" or "aiogram") against the fake server."""
    app = await build_app(
        make_settings(
            database_url,
            demo_mode=True,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            bot_frontend=frontend,
            **settings,
        ),
        clock=clock,
        ports=ports,
    )
    front = PtbFrontend(app) if frontend == "ptb" else AiogramFrontend(app)
    try:
        await front.start()
        yield app
    finally:
        await front.stop()
        await app.close()


@pytest.mark.parametrize("frontend", ["ptb", "aiogram"])
async def test_an_unanswered_complaint_is_raised_to_the_topic_and_a_supervisor(
    api: FakeBotApi, sqlite_url: str, frontend: str
) -> None:
    clock = FakeClock()
    settings: dict[str, Any] = {
        "admin_ids": str(STAFF.id),
        "staff_chat_id": STAFF_CHAT.id,
        "staff_chat_is_forum": True,
        "support_first_response_minutes": 30,
    }
    async with bot_on_clock(frontend, api, sqlite_url, clock, **settings) as app:
        # A supervisor who uses the bot in English.
        await app.services.staff.grant(SUPERVISOR.id, StaffRole.SUPERVISOR)
        api.send_text(SUPERVISOR, "/start")
        await api.wait_for_message(SUPERVISOR.id)

        # The customer complains; the card reaches the staff chat in a topic of its own.
        api.send_text(CUSTOMER, "/feedback")
        [welcome] = await api.wait_for_message(CUSTOMER.id)
        await press(api, CUSTOMER, welcome, "⚠️ 投诉")
        categories = await api.wait_for_edit(CUSTOMER.id)
        mark = api.mark()
        await press(api, CUSTOMER, categories, "其他")
        await api.wait_for_message(CUSTOMER.id, after=mark)
        api.send_text(CUSTOMER, "话费余额不对")
        [opened] = await api.wait_for_message(CUSTOMER.id)
        assert "已为您创建工单 #1" in opened["text"]
        await relay(app, api)
        [card] = staff_chat_texts(api)
        thread = card["message_thread_id"]

        # Nobody answers. Before the first-response time nothing is raised; after it, once.
        clock.advance(minutes=29)
        assert await sweep_support_sla(app.services) == (0, 0)
        clock.advance(minutes=2)
        assert await sweep_support_sla(app.services) == (1, 0)
        assert await sweep_support_sla(app.services) == (0, 0)
        await relay(app, api, expected=3)  # the topic, the supervisor, ADMIN_IDS

        note = staff_chat_texts(api)[-1]
        assert note["text"] == "⏰ 工单 #1（普通）超时未回复，请主管跟进。"
        assert note["message_thread_id"] == thread
        [raised] = [m for m in api.messages_to(SUPERVISOR.id) if m["text"].startswith("⏰")]
        assert raised["text"].startswith(
            "⏰ Ticket #1 (normal) has waited too long for an answer: supervisors, please step in."
        )
        assert "🆕 Ticket #1 · " in raised["text"] and "话费余额不对" in raised["text"]
        assert labels(raised) == ["🙋 Take", "✅ Resolve"]
        [to_admin] = [m for m in api.messages_to(STAFF.id) if m["text"].startswith("⏰")]
        assert to_admin["text"].startswith("⏰ 工单 #1（普通）超时未回复")

        # The supervisor answers by replying to it; the customer hears "Support", and the card
        # in the staff chat now says the ticket waits for the customer.
        api.send_reply(SUPERVISOR, SUPERVISOR.id, raised, "We are checking your balance")
        await relay(app, api)
        answer = api.messages_to(CUSTOMER.id)[-1]
        assert answer["text"] == "💬 客服（工单 #1）：We are checking your balance"
        refreshed = api.message(STAFF_CHAT.id, card["message_id"])
        assert refreshed is not None and "· 等待客户回复" in refreshed["text"]
        assert labels(refreshed) == ["✅ 已解决"]
