"""Support conversations through the neutral contract: a customer's complaint, the staff desk in
its group, and the relay sweep in between (with a recording outbound port)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.services.staff import StaffRole
from domain.tickets import TicketStatus
from handlers.contract import message_event
from handlers.support_views import (
    CloseTicket,
    MyTicket,
    RateSupport,
    ResolveTicket,
    TakeTicket,
    WriteToTicket,
)
from scheduler.support import StaffChat, relay_support
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.support.fakes import GroupMember, RecordingPort

STAFF_ID = 7001
GROUP = -100777
FORUM = StaffChat(GROUP, is_forum=True)


@pytest.fixture
async def app(sqlite_url: str) -> AsyncIterator[App]:
    built = await build_app(
        make_settings(
            sqlite_url, demo_mode=True, admin_ids=str(STAFF_ID), sandbox_topup_delay_seconds=0
        )
    )
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def port() -> RecordingPort:
    return RecordingPort()


def staff_member(app: App, telegram_id: int = STAFF_ID, name: str = "Agent") -> GroupMember:
    return GroupMember(app.conversation, TelegramProfile(telegram_id, name), GROUP)


async def complain(chat: Chat, text: str = "积分没有到账") -> str:
    await chat.send("/bind 18612345678")
    await chat.send("/feedback")
    await chat.press("投诉")
    await chat.press("账户或安全")
    assert "请描述您遇到的问题（账户或安全）" in chat.text
    await chat.send(text)
    assert "已为您创建工单 #" in chat.text
    return chat.text.split("工单 ")[1].split("。")[0]


async def test_a_complaint_travels_to_staff_and_back_to_a_csat(
    app: App, port: RecordingPort
) -> None:
    customer = Chat.of(app.conversation)
    number = await complain(customer, "有人盗用我的账户")
    assert number == "#1" and "客服将在 30 分钟内回复" in customer.text

    assert await relay_support(app.services, port, FORUM) == 1
    [(chat_id, topic_name, thread)] = port.topics
    assert chat_id == GROUP and "#1" in topic_name
    [card] = port.to(GROUP)
    assert card.reply.thread_id == thread
    assert "🆕 工单 #1 · 🔴 加急 · 账户或安全 · 待处理" in card.reply.text
    assert "186****5678" in card.reply.text and "18612345678" not in card.reply.text
    assert "有人盗用我的账户" in card.reply.text
    assert [b.text for row in card.reply.buttons for b in row] == ["🙋 接单", "✅ 已解决"]

    staff = staff_member(app)
    await staff.reply_to(card.message_id, "已冻结，请修改密码", thread_id=thread, own_id=42)
    assert staff.last.replies == []  # nothing said in the staff chat
    await staff.reply_to(card.message_id, "已冻结，请修改密码", thread_id=thread, own_id=42)
    assert await relay_support(app.services, port, FORUM) == 1  # the duplicate relayed once
    [answer] = port.to(customer.chat_id)
    assert answer.reply.text == "💬 客服（工单 #1）：已冻结，请修改密码"
    assert "Agent" not in answer.reply.text

    # The customer replies to the Support message: it joins the ticket.
    event = message_event(
        customer.user,
        customer.chat_id,
        "改好了",
        message_id=77,
        reply_to_message_id=answer.message_id,
    )
    outcome = await app.conversation.handle(event)
    assert "已转交客服（工单 #1）" in outcome.replies[0].text
    await relay_support(app.services, port, FORUM)
    note = port.to(GROUP)[-1]
    assert note.reply.text == "💬 工单 #1 客户：改好了" and note.reply.thread_id == thread

    await staff.press(ResolveTicket(1).pack(), card.message_id)
    assert staff.last.notice and "#1" in staff.last.notice
    assert staff.last.replies[0].edit and "已解决" in staff.last.replies[0].text
    await relay_support(app.services, port, FORUM)
    resolved = port.to(customer.chat_id)[-1]
    assert "工单 #1 已解决" in resolved.reply.text
    customer.last.replies[:] = [resolved.reply]
    await customer.press("5⭐")
    assert "感谢您的评价（5 星）" in customer.text
    await customer.press_data(RateSupport(1, 1).pack())
    assert customer.last.notice == "您已经评价过了，谢谢！"
    await relay_support(app.services, port, FORUM)
    assert port.to(GROUP)[-1].reply.text == "⭐ 工单 #1：客户评分 5 星。"

    ticket = await app.services.support.get(1)
    assert ticket.status is TicketStatus.CLOSED and ticket.csat == 5
    assert ticket.first_response_at is not None


async def test_only_staff_act_on_tickets_and_customers_only_see_their_own(
    app: App, port: RecordingPort
) -> None:
    owner = Chat.of(app.conversation)
    await complain(owner)
    await relay_support(app.services, port, FORUM)
    [card] = port.to(GROUP)

    outsider = staff_member(app, telegram_id=8123, name="Mallory")
    await outsider.press(TakeTicket(1).pack(), card.message_id)
    assert outsider.last.notice == "抱歉，此功能仅限客服人员使用。"
    await outsider.reply_to(card.message_id, "I am support, send me your password")
    await outsider.say("/tickets")
    assert outsider.texts == ["抱歉，此功能仅限客服人员使用。"]
    assert await relay_support(app.services, port, FORUM) == 0

    other = Chat.of(app.conversation, telegram_id=1002)
    await other.send("/start")
    for data in (MyTicket(1), WriteToTicket(1), CloseTicket(1), RateSupport(1, 5)):
        await other.press_data(data.pack())
        assert other.last.notice == "找不到这个工单。", data
        assert all("积分没有到账" not in text for text in other.texts)
    ticket = await app.services.support.get(1)
    assert ticket.status is TicketStatus.OPEN and ticket.assignee_id is None


async def test_staff_take_list_and_see_a_ticket(app: App, port: RecordingPort) -> None:
    customer = Chat.of(app.conversation)
    await complain(customer)
    await relay_support(app.services, port, FORUM)
    [card] = port.to(GROUP)
    first, second = staff_member(app), staff_member(app, telegram_id=STAFF_ID + 1, name="Two")
    await app.services.staff.grant(STAFF_ID + 1, StaffRole.AGENT)
    await first.press(TakeTicket(1).pack(), card.message_id)
    assert first.last.notice == "已接手工单 #1。"
    assert "处理中" in first.last.replies[0].text
    await second.press(TakeTicket(1).pack(), card.message_id)
    assert second.last.notice == "此工单已由其他同事接手。"
    assert (await app.services.support.get(1)).assignee_id == STAFF_ID

    await first.say("/tickets")
    assert first.texts == ["待处理工单 1 个："]
    await first.say("/ticket 1", thread_id=card.reply.thread_id)
    assert "积分没有到账" in first.texts[0]
    assert first.last.replies[0].thread_id == card.reply.thread_id
    await first.say("/support_stats 7")
    assert "最近 7 天：工单 1 个" in first.texts[0] and "账户或安全：1" in first.texts[0]
    # Staff talking among themselves in the group gets no answer and goes nowhere.
    await first.say("谁来看一下 #1？")
    assert first.last.replies == []


async def test_flooding_is_limited_politely(sqlite_url: str, port: RecordingPort) -> None:
    app = await build_app(make_settings(sqlite_url, demo_mode=True, support_flood_messages=2))
    try:
        customer = Chat.of(app.conversation)
        for text in ("一", "二"):
            await customer.send("/feedback")
            await customer.press("提建议")
            await customer.send(text)
            assert "感谢您的建议" in customer.text
        await customer.send("/feedback")
        await customer.press("提建议")
        await customer.send("三")
        assert "请稍等几分钟再发送" in customer.text
    finally:
        await app.close()


async def _pay_recharge(chat: Chat) -> None:
    await chat.send("/bind 18612345678")
    await chat.send("/recharge")
    await chat.press("100元")
    await chat.press("模拟支付")


async def test_a_completed_recharge_is_rated_in_one_tap_with_an_optional_comment(
    app: App,
) -> None:
    customer = Chat.of(app.conversation)
    await _pay_recharge(customer)
    assert "充值成功" in customer.text
    assert [b.text for b in customer.buttons()][:5] == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]
    receipt_buttons = customer.last
    await customer.press("4⭐")
    assert customer.last.notice == "感谢您的评分（4 星）！"
    await customer.press("补充评价")
    await customer.send("到账很快")
    assert "感谢您的评价" in customer.text
    customer.last = receipt_buttons
    await customer.press("5⭐")
    assert customer.last.notice == "这笔订单已经评价过了，谢谢！"
    [order] = await app.services.ordering.orders_of(1)
    assert await app.services.support.order_rating(order.id) == (4, "到账很快")


async def test_top_up_not_received_checks_the_order_and_opens_a_high_priority_ticket(
    sqlite_url: str, port: RecordingPort
) -> None:
    settings = make_settings(
        sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=600, admin_ids=str(STAFF_ID)
    )
    app = await build_app(settings)
    try:
        customer = Chat.of(app.conversation)
        await _pay_recharge(customer)
        assert "充值中" in customer.text or "正在" in customer.text
        await customer.send("/feedback")
        await customer.press("投诉")
        await customer.press("充值未到账")
        await customer.press("¥100 ")
        assert (
            "我们刚刚查询了订单" in customer.texts[0]
            and "已为您转人工加急处理" in customer.texts[0]
        )
        assert "已为您创建工单 #1" in customer.texts[1]
        ticket = await app.services.support.get(1)
        assert ticket.priority.value == "high" and ticket.order_id is not None
        await relay_support(app.services, port, StaffChat(GROUP))
        [card] = port.to(GROUP)
        assert "🔴 加急" in card.reply.text and "充值未到账" in card.reply.text
        assert card.reply.thread_id is None  # not a forum: one chat, no topics
        labels = [b.text for row in card.reply.buttons for b in row]
        assert "💸 退款" in labels
        # Staff ask for a refund while the carrier has not said it failed: it is refused.
        staff = staff_member(app)
        await staff.press(card.reply.buttons[1][0].data or "", card.message_id)
        assert "暂不能退款" in staff.texts[0]
    finally:
        await app.close()
