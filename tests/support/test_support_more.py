"""Support, continued: the card in the staff chat follows its ticket's state through the relay;
staff are spoken to in the staff chat's language there and in their own language privately; and
erasing a customer's data blanks what they wrote to support while the ticket figures stay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.assembly import App, build_app
from bot.outbound import OutboundPort
from domain.customers import TelegramProfile
from domain.persistence.support_tables import OrderRatingRow, SuggestionRow, TicketRow
from domain.services.staff import StaffRole
from domain.tickets import ERASED_TEXT, TicketStatus
from handlers.contract import Delivery, DeliveryStatus, Outcome, Reply, message_event
from handlers.support_views import TakeTicket
from scheduler.support import StaffChat, relay_support
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.support.fakes import GroupMember, RecordingPort, Sent
from tests.support.test_support_conversation import _pay_recharge, complain

STAFF_ID = 7001
GROUP = -100777
FORUM = StaffChat(GROUP, is_forum=True)


async def built(sqlite_url: str, **settings: object) -> App:
    return await build_app(
        make_settings(
            sqlite_url,
            demo_mode=True,
            admin_ids=str(STAFF_ID),
            sandbox_topup_delay_seconds=0,
            **settings,
        )
    )


@pytest.fixture
async def app(sqlite_url: str) -> AsyncIterator[App]:
    app = await built(sqlite_url)
    try:
        yield app
    finally:
        await app.close()


def labels(sent: Sent) -> list[str]:
    return [b.text for row in sent.reply.buttons for b in row]


async def private(app: App, user: TelegramProfile, text: str) -> Outcome:
    """A staff member writing to the bot in their private chat."""
    return await app.conversation.handle(message_event(user, user.telegram_id, text, message_id=5))


async def test_the_card_follows_the_ticket_state_when_replies_change_it(app: App) -> None:
    port = RecordingPort()
    customer = Chat.of(app.conversation)
    await complain(customer, "积分没有到账")
    await relay_support(app.services, port, FORUM)
    [card] = port.to(GROUP)
    assert "· 待处理" in card.reply.text and labels(card) == ["🙋 接单", "✅ 已解决"]

    # A staff reply puts the ticket in "waiting for the customer": the card is edited in place.
    staff = GroupMember(app.conversation, TelegramProfile(STAFF_ID, "Agent"), GROUP)
    await staff.reply_to(card.message_id, "请提供订单截图", thread_id=card.reply.thread_id)
    await relay_support(app.services, port, FORUM)
    [edit] = port.edits
    assert (edit.chat_id, edit.message_id) == (GROUP, card.message_id)
    assert "· 等待客户回复" in edit.reply.text and labels(edit) == ["✅ 已解决"]
    assert len(port.to(GROUP)) == 1  # edited, not posted again

    # The customer answers: back with staff.
    await app.services.support.customer_message(1, 1, "截图在这里")
    await relay_support(app.services, port, FORUM)
    assert "· 处理中" in port.edits[-1].reply.text

    # Resolved, then closed by the auto-close sweep's path: the card follows each time, and
    # several changes waiting at once are one edit showing the latest state.
    await app.services.support.resolve(STAFF_ID, 1)
    await app.services.support.close_resolved()  # not due yet: nothing changes
    await app.services.support.rate_support(1, 1, 4)
    before = len(port.edits)
    await relay_support(app.services, port, FORUM)
    assert len(port.edits) == before + 1
    assert "· 已关闭" in port.edits[-1].reply.text and labels(port.edits[-1]) == ["↩️ 重新打开"]
    assert await relay_support(app.services, port, FORUM) == 0
    assert len(port.edits) == before + 1


async def test_staff_chat_speaks_its_language_and_each_staff_member_their_own(
    sqlite_url: str,
) -> None:
    app = await built(
        sqlite_url, staff_chat_language="en", staff_chat_id=GROUP, staff_chat_is_forum=True
    )
    try:
        port = RecordingPort()
        customer = Chat.of(app.conversation)
        await complain(customer, "有人盗用我的账户")
        await relay_support(app.services, port, FORUM)
        [(_chat, topic_name, _thread)] = port.topics
        assert topic_name == "Ticket #1 Account or security"
        [card] = port.to(GROUP)
        assert card.reply.text.startswith("🆕 Ticket #1 · ") and "· open" in card.reply.text
        assert "有人盗用我的账户" in card.reply.text  # the customer's own words, as written
        assert labels(card) == ["🙋 Take", "✅ Resolve"]

        # A Chinese-speaking staff member takes it: their notice is in Chinese, the shared card
        # stays English.
        zh_staff = GroupMember(
            app.conversation, TelegramProfile(STAFF_ID, "周", language_code="zh-hans"), GROUP
        )
        await zh_staff.press(TakeTicket(1).pack(), card.message_id)
        assert zh_staff.last.notice == "已接手工单 #1。"
        assert "· being handled" in zh_staff.texts[0]
        await zh_staff.say("/support_stats")
        assert zh_staff.texts[0].startswith("📊 Tickets in the last 7 d: 1\n")
        await zh_staff.say("/tickets")
        assert zh_staff.texts == ["1 open ticket:"]

        # In private, each in their own language.
        outcome = await private(app, zh_staff.user, "/tickets")
        assert [r.text for r in outcome.replies] == ["待处理工单 1 个："]
        en_agent = TelegramProfile(STAFF_ID + 1, "Amy", language_code="en")
        await app.services.staff.grant(en_agent.telegram_id, StaffRole.AGENT)
        outcome = await private(app, en_agent, "/ticket 1")
        assert outcome.replies[0].text.startswith("🆕 Ticket #1 · ")
        outcome = await private(app, TelegramProfile(STAFF_ID, "周", language_code="zh"), "/ticket")
        assert "/ticket" in outcome.replies[0].text and "工单" in outcome.replies[0].text
    finally:
        await app.close()


async def test_erasing_my_data_blanks_what_i_wrote_to_support_and_keeps_the_figures(
    app: App,
) -> None:
    port = RecordingPort()
    customer = Chat.of(app.conversation)
    await _pay_recharge(customer)
    await customer.press("4⭐")
    await customer.press("补充评价")
    await customer.send("快递员态度很差，电话 13900001111")
    await customer.send("/feedback")
    await customer.press("提建议")
    await customer.send("希望支持支付宝，我叫王小明")
    await complain(customer, "我的身份证号 110101199001011234 被盗用")
    await relay_support(app.services, port, FORUM)
    card = port.to(GROUP)[-1]
    staff = GroupMember(app.conversation, TelegramProfile(STAFF_ID, "Agent"), GROUP)
    await staff.reply_to(card.message_id, "王先生，已冻结您的账户", thread_id=card.reply.thread_id)
    await relay_support(app.services, port, FORUM)
    await app.services.support.customer_message(1, 1, "我的新号码 13900002222")  # not relayed yet

    await customer.send("/privacy")
    assert "投诉工单" in customer.text
    await customer.send("/delete_my_data")
    await customer.press("确认删除")
    assert customer.texts[0] == "您的个人数据已删除。"

    # The ticket stays, with its state and times, for the support figures.
    ticket = await app.services.support.get(1)
    assert ticket.status is TicketStatus.ASSIGNED and ticket.first_response_at is not None
    assert ticket.chat_id == 0  # their private chat (their Telegram id) is forgotten
    assert (await app.services.support.stats(7)).tickets == 1
    # Everything anyone wrote in it is gone, and so are their suggestion and rating comment.
    lines = await app.services.support.transcript(1)
    assert len(lines) == 3 and {line.text for line in lines} == {ERASED_TEXT}
    async with AsyncSession(app.engine) as session:
        suggestions = list(await session.scalars(select(SuggestionRow.text)))
        ratings = list(await session.execute(select(OrderRatingRow.stars, OrderRatingRow.comment)))
        chats = list(await session.scalars(select(TicketRow.chat_id)))
    assert suggestions == [ERASED_TEXT] and [tuple(r) for r in ratings] == [(4, ERASED_TEXT)]
    assert chats == [0]

    # Staff see that it was erased, never the words; the message still waiting says so too.
    await staff.say("/ticket 1")
    shown = staff.texts[0]
    assert "（客户已删除个人数据，内容已清除）" in shown
    for secret in ("110101199001011234", "王先生", "13900002222"):
        assert secret not in shown
    await relay_support(app.services, port, FORUM)
    assert port.to(GROUP)[-1].reply.text == "💬 工单 #1 客户：（客户已删除个人数据，内容已清除）"


class SendOnly:
    """A front end that can send but not edit (like the console)."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        self.sent += 1
        return Delivery.sent(self.sent)


async def test_a_card_is_edited_through_the_running_front_end_or_given_up(app: App) -> None:
    port = OutboundPort()
    card = Reply("🆕 工单 #1")
    assert (await port.edit_message(GROUP, 5, card)).status is DeliveryStatus.RETRY  # none yet
    port.attach(SendOnly())
    assert (await port.edit_message(GROUP, 5, card)).status is DeliveryStatus.REJECTED
    recording = RecordingPort()
    port.attach(recording)
    assert await port.edit_message(GROUP, 5, card)
    assert [(e.chat_id, e.message_id) for e in recording.edits] == [(GROUP, 5)]

    # A front end that cannot edit: the card's refresh is given up, the relay goes on.
    port.attach(SendOnly())
    customer = Chat.of(app.conversation)
    await complain(customer)
    assert await relay_support(app.services, port, StaffChat(GROUP)) == 1
    await app.services.support.take(STAFF_ID, 1)
    await app.services.support.customer_message(1, 1, "还在吗")
    assert await relay_support(app.services, port, StaffChat(GROUP)) == 1
    assert await relay_support(app.services, port, StaffChat(GROUP)) == 0
