"""The recharge conversation as a customer lives it, through the neutral contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.assembly import App, build_app
from domain.integrations.sandbox import SandboxGateway
from domain.money import Money
from domain.orders import OrderStatus
from domain.persistence.tables import PaymentRow
from handlers.contract import Delivery, Outcome, Reply, payment_event, pre_checkout_event
from scheduler.jobs import sweep_orders
from tests.conftest import make_settings
from tests.handlers.chat import Chat


class CollectingNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[int, Reply]] = []

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        self.sent.append((chat_id, reply))
        return Delivery.sent()


async def _app(sqlite_url: str, **overrides: object) -> App:
    settings = make_settings(
        sqlite_url,
        demo_mode=True,
        sandbox_topup_delay_seconds=0,
        **overrides,
    )
    return await build_app(settings)


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    app = await _app(sqlite_url)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
def chat(shop: App) -> Chat:
    return Chat.of(shop.conversation)


@pytest.fixture
async def telegram_shop(sqlite_url: str) -> AsyncIterator[App]:
    """Telegram Payments (a provider token) in demo mode: no sandbox payment beside it."""
    app = await _app(sqlite_url, payment_provider_token="PROVIDER-TEST")
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
def telegram_chat(telegram_shop: App) -> Chat:
    return Chat.of(telegram_shop.conversation)


async def _to_confirmation(chat: Chat, number: str = "18612345678", product: str = "100元") -> str:
    """From /recharge to the confirmation screen; returns the order number shown."""
    await chat.send(f"/bind {number}")
    await chat.send("/recharge")
    await chat.press(product)
    assert chat.texts[0].startswith("请确认订单")
    return chat.texts[0].split("订单号：")[1].split("\n")[0]


async def _payments(app: App) -> int:
    from sqlalchemy import func, select

    async with app.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(PaymentRow)) or 0)


async def test_recharge_a_bound_number_with_the_sandbox_to_a_receipt(chat: Chat) -> None:
    order_number = await _to_confirmation(chat)
    assert "应付金额：¥100.00" in chat.text and "186****5678（中国联通）" in chat.text
    assert [b.text for b in chat.buttons()] == [
        "👛 钱包余额支付",
        "🧪 模拟支付（测试）",
        "✖️ 取消订单",
    ]
    await chat.press("模拟支付")
    receipt = chat.texts[0]
    assert receipt.startswith("✅ 充值成功")
    assert "金额：¥100.00" in receipt and "支付方式：模拟支付" in receipt
    assert f"订单号：{order_number}" in receipt and "（北京时间）" in receipt
    assert "18612345678" not in receipt
    assert chat.replies[0].edit


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_receipt_is_told_once_delivered_and_sent_later_when_the_bot_stopped_first(
    sqlite_url: str,
) -> None:
    clock = Clock()
    settings = make_settings(sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings, clock=clock)
    try:
        delivered, cut_off = Chat.of(app.conversation, 1), Chat.of(app.conversation, 2)
        cut_off.delivers = False  # the process stops right after the receipt was made
        for chat in (delivered, cut_off):
            await _to_confirmation(chat)
            await chat.press("模拟支付")
            assert chat.texts[0].startswith("✅ 充值成功")
        notifier = CollectingNotifier()
        await sweep_orders(app.services, notifier)
        assert notifier.sent == []  # one was told, the other is still being told
        clock.now += timedelta(minutes=3)
        await sweep_orders(app.services, notifier)
        await sweep_orders(app.services, notifier)
        assert [(chat_id, reply.text[:6]) for chat_id, reply in notifier.sent] == [
            (2, "✅ 充值成功")
        ]
    finally:
        await app.close()


async def test_a_double_tapped_pay_button_charges_once(chat: Chat, shop: App) -> None:
    await _to_confirmation(chat)
    pay = chat.button("模拟支付").data or ""
    await chat.press_data(pay)
    await chat.press_data(pay)
    assert chat.last.notice == "这个订单已经支付过了。"
    assert chat.texts[0].startswith("✅ 充值成功")
    assert await _payments(shop) == 1


async def test_not_enough_in_the_wallet_then_top_up_and_pay_from_it(chat: Chat, shop: App) -> None:
    await _to_confirmation(chat, product="50元")
    await chat.press("钱包余额支付")
    assert chat.texts[0] == (
        "钱包余额不足：余额 ¥0.00，需支付 ¥50.00。请换一种支付方式，或先为钱包充值。"
    )
    assert chat.texts[1].startswith("请确认订单")  # the same order, still payable
    pay_from_wallet = chat.button("钱包余额支付").data or ""

    await chat.send("/wallet")
    await chat.press("充值 ¥100.00")
    assert "钱包充值" in chat.text and "👛 钱包余额支付" not in [b.text for b in chat.buttons()]
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 钱包充值成功")

    await chat.press_data(pay_from_wallet)
    assert chat.texts[0].startswith("✅ 充值成功") and "支付方式：钱包余额" in chat.texts[0]
    await chat.send("/wallet")
    assert chat.texts[0].startswith("钱包余额：¥50.00")
    assert "支付 -¥50.00" in chat.text and "充值 ¥100.00" in chat.text


async def test_telegram_payments_from_invoice_to_receipt_exactly_once(
    telegram_chat: Chat, telegram_shop: App
) -> None:
    await _to_confirmation(telegram_chat, product="30元")
    await telegram_chat.press("Telegram 支付")
    (invoice_reply,) = telegram_chat.replies
    invoice = invoice_reply.invoice
    assert invoice is not None
    assert (invoice.currency, invoice.amount) == ("CNY", 3000)
    assert invoice.title == "30元话费"

    conversation = telegram_shop.conversation
    asked = await conversation.handle(
        pre_checkout_event(telegram_chat.user, "q1", invoice.payload, "CNY", 3000)
    )
    assert asked.pre_checkout_error is None
    paid = payment_event(
        telegram_chat.user, telegram_chat.chat_id, invoice.payload, "CNY", 3000, "tg-1", "p-1"
    )
    first = await conversation.handle(paid)
    assert first.replies[0].text.startswith("✅ 充值成功")
    assert "支付方式：Telegram 支付" in first.replies[0].text
    again = await conversation.handle(paid)  # Telegram delivered the update twice
    assert again.replies[0].text.startswith("✅ 充值成功")
    assert await _payments(telegram_shop) == 1


async def test_pre_checkout_refuses_a_wrong_amount_or_someone_elses_order(
    telegram_chat: Chat, telegram_shop: App
) -> None:
    await _to_confirmation(telegram_chat, product="30元")
    await telegram_chat.press("Telegram 支付")
    invoice = telegram_chat.replies[0].invoice
    assert invoice is not None
    wrong = await telegram_shop.conversation.handle(
        pre_checkout_event(telegram_chat.user, "q1", invoice.payload, "CNY", 1)
    )
    assert wrong.pre_checkout_error == "订单金额已变化，请重新下单。"
    stranger = Chat.of(telegram_shop.conversation, telegram_id=9009, language="en")
    theirs = await telegram_shop.conversation.handle(
        pre_checkout_event(stranger.user, "q2", invoice.payload, "CNY", 3000)
    )
    assert theirs.pre_checkout_error == "That order was not found."


async def test_a_failed_top_up_is_explained_and_refunded(chat: Chat) -> None:
    await _to_confirmation(chat, number="18600000000", product="20元")
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("↩️ 充值失败，已退款")
    assert "原因：该号码暂时无法充值。¥20.00 已退回原支付方式。" in chat.texts[0]


async def test_a_pending_top_up_is_announced_once_when_it_completes(sqlite_url: str) -> None:
    app = await _app(sqlite_url)
    gateway = app.ports.gateway
    assert isinstance(gateway, SandboxGateway)
    gateway.delay = timedelta(hours=1)
    try:
        chat = Chat.of(app.conversation)
        await _to_confirmation(chat)
        await chat.press("模拟支付")
        assert chat.texts[0].startswith("⏳ 已支付，正在充值")
        await chat.send("/orders")
        await chat.press("充值中")
        await chat.press("查询状态")
        assert chat.texts[0].startswith("⏳ 已支付，正在充值")

        gateway.delay = timedelta(0)
        notifier = CollectingNotifier()
        assert await sweep_orders(app.services, notifier) == 0  # not due to be asked yet
        await chat.press("查询状态")  # the customer asks: the gateway now says done
        assert chat.texts[0].startswith("✅ 充值成功")
        assert await sweep_orders(app.services, notifier) == 0  # already told in the chat
        assert notifier.sent == []
    finally:
        await app.close()


async def test_a_sweep_tells_the_customer_who_left(sqlite_url: str) -> None:
    app = await _app(sqlite_url, order_recheck_seconds=0.001)
    gateway = app.ports.gateway
    assert isinstance(gateway, SandboxGateway)
    gateway.delay = timedelta(hours=1)
    try:
        chat = Chat.of(app.conversation, language="en")
        await chat.send("/bind 18612345678")
        await chat.send("/recharge")
        await chat.press("¥20")
        await chat.press("Sandbox payment")
        assert chat.texts[0].startswith("⏳ Paid, recharging")
        gateway.delay = timedelta(0)
        notifier = CollectingNotifier()
        assert await sweep_orders(app.services, notifier) == 1
        assert await sweep_orders(app.services, notifier) == 0  # twice: told once
        ((chat_id, reply),) = notifier.sent
        assert chat_id == chat.chat_id
        assert reply.text.startswith("✅ Recharge completed")
        assert "🔁 Recharge again" in [b.text for row in reply.buttons for b in row]
    finally:
        await app.close()


async def test_buttons_for_someone_elses_order_or_forged_data_change_nothing(
    chat: Chat, shop: App
) -> None:
    await _to_confirmation(chat)
    pay = chat.button("模拟支付").data or ""
    intruder = Chat.of(shop.conversation, telegram_id=4242)
    await intruder.send("/start")
    await intruder.press_data(pay)
    assert intruder.texts[0] == "没有找到这个订单。"
    await intruder.press_data(pay.replace("sandbox", "wallet"))
    assert intruder.texts[0] == "没有找到这个订单。"
    await intruder.press_data("rcp:999999")  # a product, with no number chosen
    assert intruder.last.notice == "这个按钮已失效，请从最新菜单中选择。"
    await intruder.press_data("pay:1:bitcoin")
    assert intruder.last.notice == "这个按钮已失效，请从最新菜单中选择。"
    assert await _payments(shop) == 0


async def test_a_product_that_does_not_exist_is_refused(chat: Chat) -> None:
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press_data("rcp:999999")
    assert chat.texts[0] == "这个商品已下架，请重新选择。"


async def test_a_carrier_the_campaign_does_not_serve_gets_a_clear_answer(sqlite_url: str) -> None:
    app = await _app(sqlite_url, served_carriers="unicom")
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/recharge")
        await chat.send("13800138000")
        assert chat.texts[0] == "抱歉，本活动暂不支持中国移动号码充值。"
        await chat.send("18612345678")
        assert chat.texts[0].startswith("📞 为 186****5678（中国联通）充话费")
    finally:
        await app.close()


async def test_amount_limits_from_the_settings(sqlite_url: str) -> None:
    app = await _app(sqlite_url, recharge_max_fen=5000, recharge_daily_fen=6000)
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/recharge")
        await chat.send("18612345678")
        await chat.press("100元")
        assert chat.texts[0] == "单笔金额不能超过 ¥50.00。"
        await chat.send("/recharge")
        await chat.send("18612345678")
        await chat.press("50元")
        await chat.press("模拟支付")
        await chat.send("/recharge")
        await chat.send("18612345678")
        await chat.press("20元")
        assert chat.texts[0] == "已超过每日充值限额 ¥60.00，请明天再试。"
    finally:
        await app.close()


async def test_orders_list_details_and_recharge_again(chat: Chat, shop: App) -> None:
    first = await _to_confirmation(chat, product="20元")
    await chat.press("模拟支付")
    await chat.send("/orders")
    assert chat.texts[0] == "最近的订单（点按查看详情）："
    line = chat.buttons()[0].text
    assert "20元话费 ¥20 已完成" in line
    await chat.press("20元话费 ¥20 已完成")
    assert chat.texts[0].startswith("✅ 充值成功") and first in chat.texts[0]
    await chat.press("再充一次")
    assert chat.texts[0].startswith("请确认订单") and first not in chat.texts[0]
    assert "应付金额：¥20.00" in chat.texts[0]


async def test_cancelling_an_unpaid_order(chat: Chat, shop: App) -> None:
    await _to_confirmation(chat)
    pay = chat.button("模拟支付").data or ""
    await chat.press("取消订单")
    assert chat.texts[0] == "订单已取消，未扣款。"
    await chat.press_data(pay)
    # The order's real state, with the way on: recharge again, or the menu.
    assert chat.texts[0] == "该订单已关闭（已取消或超过支付时限），未扣款。"
    assert [b.text for b in chat.buttons()] == ["🔁 再充一次", "« 返回菜单"]
    orders = await shop.services.ordering.orders_of(await _customer_id(chat, shop))
    assert orders[0].status is OrderStatus.EXPIRED


async def _customer_id(chat: Chat, app: App) -> int:
    return (await app.services.customers.begin_turn(chat.user, chat.chat_id)).customer.id


async def test_english_customers_get_every_recharge_screen_in_english(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=5005, language="en")
    await chat.send("/recharge")
    assert chat.texts[0].startswith("Type the 11-digit mobile number")
    await chat.send("186 1234 5678")
    await chat.press("Data")
    await chat.press("5 GB data (30 days)")
    assert chat.texts[0].startswith("Please confirm your order")
    await chat.press("Sandbox payment")
    assert chat.texts[0].startswith("✅ Recharge completed")
    assert "Product: 5 GB data (30 days)" in chat.texts[0]
    assert "Wallet balance: ¥0.00" in (await _wallet(chat)).replies[0].text


async def _wallet(chat: Chat) -> Outcome:
    return await chat.send("/wallet")


async def test_wallet_top_up_buttons_never_carry_an_amount(chat: Chat) -> None:
    await chat.send("/wallet")
    for button in chat.buttons():
        assert "¥" not in (button.data or "") and "00" not in (button.data or "")
    await chat.press_data("wal+:99")
    assert chat.last.notice == "这个按钮已失效，请从最新菜单中选择。"
    assert Money.yuan(0) == Money(0)


async def test_a_real_gateway_never_comes_with_sandbox_payment(sqlite_url: str) -> None:
    """Outside demo mode, with the carrier's real gateway, the customer pays for real or not at
    all: "模拟支付" is never offered."""
    app = await build_app(make_settings(sqlite_url, gateway_url="http://127.0.0.1:9/topup"))
    try:
        chat = Chat.of(app.conversation)
        await _to_confirmation(chat)
        assert [b.text for b in chat.buttons()] == ["👛 钱包余额支付", "✖️ 取消订单"]
        await chat.send("/wallet")
        assert chat.text == "钱包余额：¥0.00\n暂不支持为钱包充值。"
        assert [b.text for b in chat.buttons()] == ["« 返回菜单"]
    finally:
        await app.close()


async def test_a_wallet_top_up_is_named_in_the_customers_language(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=5006, language="en")
    await chat.send("/wallet")
    await chat.press("Top up ¥100.00")
    assert "Product: Wallet top-up" in chat.text
    await chat.press("Sandbox payment")
    assert chat.texts[0].startswith("✅ Wallet topped up")
    assert "Product: Wallet top-up" in chat.texts[0]
    await chat.send("/orders")
    [order, _back] = chat.buttons()
    assert "Wallet top-up ¥100 completed" in order.text
