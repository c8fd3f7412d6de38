"""A risk rule holding an order and freezing an account, as the customer and staff see it: the
customer told plainly, staff alerted with the evidence and buttons, the decision recorded and
told, and a frozen customer still reading their data, writing feedback and erasing it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.risk import CaseStatus
from handlers.contract import Delivery, Reply, button_event
from scheduler.risk import sweep_risk
from tests.conftest import make_settings
from tests.handlers.chat import Chat

STAFF_CHAT = -1009
STAFF = 9001
NUMBER = "18612345678"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[int, Reply]] = []

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        self.sent.append((chat_id, reply))
        return Delivery.sent()

    def to(self, chat_id: int) -> list[Reply]:
        return [reply for chat, reply in self.sent if chat == chat_id]


async def _shop(sqlite_url: str, **rules: object) -> App:
    values: dict[str, object] = {"admin_ids": frozenset({STAFF})}
    values.update(rules)
    return await build_app(
        make_settings(
            sqlite_url,
            demo_mode=True,
            sandbox_topup_delay_seconds=0,
            staff_chat_id=STAFF_CHAT,
            risk_rules_enabled=True,
            **values,
        )
    )


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    app = await _shop(sqlite_url, risk_orders_per_hour=1)
    try:
        yield app
    finally:
        await app.close()


async def _order(chat: Chat, product: str = "50元") -> None:
    await chat.send("/recharge")
    await chat.press(product)


async def _staff_press(app: App, label: str, reply: Reply) -> Chat:
    staff = Chat(app.conversation, TelegramProfile(STAFF, "李客服", None, None, "zh-hans"))
    [button] = [b for row in reply.buttons for b in row if label in b.text]
    event = button_event(
        staff.user,
        STAFF_CHAT,
        button.data or "",
        callback_id="cb",
        message_id=5,
        chat_type="supergroup",
    )
    await staff.handle(event)
    return staff


async def test_held_order_alert_release_and_pay(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await chat.send(f"/bind {NUMBER}")
    await _order(chat)
    assert chat.texts[0].startswith("请确认订单")
    await _order(chat)
    held = chat.texts[0]
    assert held.startswith("⏸ 订单 R") and "需要安全审核，暂时不能支付，也没有扣任何款项" in held
    assert "模拟支付" not in [b.text for b in chat.buttons()]

    outbox = Outbox()
    await sweep_risk(shop.services, outbox, STAFF_CHAT)
    [alert] = outbox.to(STAFF_CHAT)
    assert "规则：一小时内下单超过 1 笔" in alert.text
    assert "处理：订单暂停，等待审核" in alert.text
    assert "¥50.00，号码 186****5678" in alert.text
    assert [b.text for row in alert.buttons for b in row] == [
        "✅ 放行 #1",
        "↩️ 退款并取消 #1",
        "🔒 保持冻结 #1",
    ]
    # Sent once, however many sweeps run.
    await sweep_risk(shop.services, outbox, STAFF_CHAT)
    assert len(outbox.to(STAFF_CHAT)) == 1

    # A customer pressing the staff button changes nothing.
    [release] = [b for row in alert.buttons for b in row if "放行" in b.text]
    await chat.press_data(release.data or "")
    assert chat.last.notice == "抱歉，此功能仅限客服人员使用。"
    assert (await shop.services.risk.pending())[0].status is CaseStatus.OPEN

    staff = await _staff_press(shop, "放行", alert)
    assert staff.last.notice is not None and staff.last.notice.startswith("✅ 已放行（李客服，")
    assert staff.replies[0].edit and "✅ 已放行（李客服，" in staff.replies[0].text
    assert staff.replies[0].buttons == ()
    again = await _staff_press(shop, "放行", alert)
    assert again.last.notice is not None and again.last.notice.startswith("案件 #1 已处理")

    await sweep_risk(shop.services, outbox, STAFF_CHAT)
    [told] = outbox.to(chat.chat_id)
    assert told.text.startswith("✅ 订单 R") and "现在可以在 /orders 中支付" in told.text
    await chat.press_data(told.buttons[0][0].data or "")
    assert chat.texts[0].startswith("请确认订单")
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")


async def test_frozen_account_keeps_reading_feedback_and_erasure(sqlite_url: str) -> None:
    app = await _shop(sqlite_url, risk_orders_per_hour=1, risk_actions="orders_per_hour=freeze")
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/start")
        await chat.send(f"/bind {NUMBER}")
        await _order(chat)
        await _order(chat)
        assert "🔒 审核期间您的账户暂时冻结" in chat.texts[0]
        await _order(chat)
        assert chat.texts[0].startswith("🔒 为保障资金安全，您的账户已暂时冻结")

        outbox = Outbox()
        await sweep_risk(app.services, outbox, STAFF_CHAT)
        [alert] = outbox.to(STAFF_CHAT)
        assert "处理：账户冻结，等待审核" in alert.text
        await _staff_press(app, "保持冻结", alert)
        await sweep_risk(app.services, outbox, STAFF_CHAT)
        [told] = outbox.to(chat.chat_id)
        assert told.text.startswith("🔒 经安全审核，您的账户继续冻结")

        await chat.send("/orders")
        assert chat.texts[0] == "最近的订单（点按查看详情）："
        await chat.send("/points")
        assert chat.texts
        await chat.send("/feedback")
        assert "冻结" not in chat.text
        await chat.send("/delete_my_data")
        assert "冻结" not in chat.text and chat.buttons()

        # Released later (from /risk): the customer may order again.
        staff = Chat(app.conversation, TelegramProfile(STAFF, "李客服", None, None, "zh-hans"))
        await staff.send("/risk")
        assert "#1 · 客户 #1" in staff.texts[0] and "🔒 保持冻结" in staff.texts[0]
        await staff.press("放行 #1")
        assert not await app.services.risk.is_frozen(1)
        await sweep_risk(app.services, outbox, STAFF_CHAT)
        assert outbox.to(chat.chat_id)[-1].text.startswith("✅ 您的账户已通过安全审核")
    finally:
        await app.close()


async def test_a_large_release_waits_for_a_second_staff_member(sqlite_url: str) -> None:
    app = await _shop(
        sqlite_url,
        risk_orders_per_hour=1,
        risk_two_person_fen=10_000,
        admin_ids=frozenset({STAFF, 9002}),
    )
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/start")
        await chat.send(f"/bind {NUMBER}")
        await _order(chat)
        await _order(chat, "100元")
        outbox = Outbox()
        await sweep_risk(app.services, outbox, STAFF_CHAT)
        [alert] = outbox.to(STAFF_CHAT)
        first = await _staff_press(app, "放行", alert)
        assert first.last.notice == "案件 #1 金额较大：放行需要另一位客服批准。"
        assert "⏳ 李客服 已批准放行" in first.replies[0].text
        again = await _staff_press(app, "放行", alert)
        assert again.last.notice == "案件 #1 金额较大：放行需要另一位客服批准。"
        second = Chat(app.conversation, TelegramProfile(9002, "王客服", None, None, "zh-hans"))
        [button] = [b for row in alert.buttons for b in row if "放行" in b.text]
        await second.handle(
            button_event(
                second.user,
                STAFF_CHAT,
                button.data or "",
                callback_id="cb",
                message_id=5,
                chat_type="supergroup",
            )
        )
        assert second.last.notice is not None and second.last.notice.startswith("✅ 已放行（王客服")
        await sweep_risk(app.services, outbox, STAFF_CHAT)
        assert outbox.to(chat.chat_id)[-1].text.startswith("✅ 订单 R")
    finally:
        await app.close()
