"""Support with no staff chat (no STAFF_CHAT_ID, the default): the customer still hears back,
staff work through /tickets, /ticket N and /answer N, and the bot says no staff chat is set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.tickets import Category
from handlers.contract import Outcome, message_event
from scheduler.support import StaffChat, relay_support
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.support.fakes import RecordingPort

ADMIN = 7001
CUSTOMER = 1001
NO_STAFF_CHAT = StaffChat(None)


@pytest.fixture
async def app(sqlite_url: str) -> AsyncIterator[App]:
    built = await build_app(make_settings(sqlite_url, demo_mode=True, admin_ids=str(ADMIN)))
    try:
        yield built
    finally:
        await built.close()


async def _ticket(app: App) -> int:
    turn = await app.services.customers.begin_turn(TelegramProfile(CUSTOMER, "小明"), CUSTOMER)
    ticket = await app.services.support.open_ticket(
        turn.customer.id, CUSTOMER, Category.PAYMENT, "扣款两次"
    )
    return ticket.id


def _texts_to(port: RecordingPort, chat_id: int) -> list[str]:
    return [sent.reply.text for sent in port.to(chat_id)]


async def test_the_customer_hears_back_though_the_card_has_nowhere_to_go(app: App) -> None:
    ticket_id = await _ticket(app)
    port = RecordingPort()
    assert await relay_support(app.services, port, NO_STAFF_CHAT) == 0
    await app.services.support.staff_reply(
        ADMIN, ticket_id, "已为您退款", source_chat_id=ADMIN, source_message_id=3
    )
    await app.services.support.resolve(ADMIN, ticket_id)

    assert await relay_support(app.services, port, NO_STAFF_CHAT) == 2
    assert _texts_to(port, CUSTOMER) == [
        f"💬 客服（工单 #{ticket_id}）：已为您退款",
        f"✅ 工单 #{ticket_id} 已解决。请为本次客服服务打分：",
    ]
    assert [sent.chat_id for sent in port.sent] == [CUSTOMER, CUSTOMER]
    # Nothing is left waiting: a later sweep sends nothing, and nothing twice.
    assert await relay_support(app.services, port, NO_STAFF_CHAT) == 0
    assert await app.services.support.pending() == []


async def _staff_says(app: App, text: str, message_id: int) -> Outcome:
    event = message_event(TelegramProfile(ADMIN, "Admin"), ADMIN, text, message_id=message_id)
    return await app.conversation.handle(event)


async def test_staff_answer_from_a_private_chat_with_ticket_commands(app: App) -> None:
    customer = Chat.of(app.conversation, telegram_id=CUSTOMER)
    await customer.send("/start")
    ticket_id = await _ticket(app)

    listed = await _staff_says(app, "/tickets", 1)
    assert f"#{ticket_id}" in " ".join(
        b.text for r in listed.replies for row in r.buttons for b in row
    )
    shown = await _staff_says(app, f"/ticket {ticket_id}", 2)
    assert "扣款两次" in shown.replies[0].text
    assert f"/answer {ticket_id}" in shown.replies[0].text

    answered = await _staff_says(app, f"/answer {ticket_id} 已为您退款，请查收", 3)
    assert answered.replies[0].text == f"您的回复已发送给工单 #{ticket_id} 的客户。"
    usage = await _staff_says(app, f"/answer {ticket_id}", 4)
    assert usage.replies[0].text.startswith(f"请在工单号 #{ticket_id} 后写上回复内容。")
    assert "用法：/answer" in usage.replies[0].text

    port = RecordingPort()
    await relay_support(app.services, port, NO_STAFF_CHAT)
    [to_customer] = _texts_to(port, CUSTOMER)
    assert "已为您退款，请查收" in to_customer


async def test_support_stats_say_no_staff_chat_is_set_in_the_staff_members_language(
    app: App,
) -> None:
    stats = await _staff_says(app, "/support_stats", 1)
    assert stats.replies[0].text.startswith("⚠️ 未设置客服群（STAFF_CHAT_ID）")
    staff = Chat.of(app.conversation, telegram_id=ADMIN)
    await staff.send("/language")
    await staff.press("English")
    stats = await _staff_says(app, "/support_stats", 3)
    assert stats.replies[0].text.startswith("⚠️ No staff chat is set (STAFF_CHAT_ID)")


async def test_support_stats_say_nothing_of_it_when_a_staff_chat_is_set(sqlite_url: str) -> None:
    app = await build_app(make_settings(sqlite_url, admin_ids=str(ADMIN), staff_chat_id=-100555))
    try:
        stats = await _staff_says(app, "/support_stats", 1)
        assert "STAFF_CHAT_ID" not in stats.replies[0].text
        assert stats.replies[0].text.startswith("📊")
    finally:
        await app.close()
