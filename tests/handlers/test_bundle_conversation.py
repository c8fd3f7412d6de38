"""Buying call credit together with a data pack, as a customer sees it, with the demo campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.assembly import App, build_app
from bot.cli import demo_campaigns
from domain.orders import OrderStatus
from tests.conftest import make_settings
from tests.handlers.chat import Chat

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ADD = "➕ 加购 5GB流量包（30天） ¥25.00，立省 ¥5.00"


class Clock:
    def __init__(self) -> None:
        self.now = START + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    settings = make_settings(sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings, clock=Clock())
    await app.services.campaigns.load(demo_campaigns(START))
    try:
        yield app
    finally:
        await app.close()


async def _confirmation(chat: Chat, kind: str = "话费", product: str = "100元") -> None:
    await chat.send("/recharge")
    await chat.send("18612345678")
    if kind != "话费":  # call credit is the grid shown first
        await chat.press(kind)
    await chat.press(product)
    assert chat.texts[0].startswith("请确认订单")


async def test_adding_the_pack_shows_the_bundle_price_and_the_receipt_lists_it(
    shop: App,
) -> None:
    chat = Chat.of(shop.conversation)
    await _confirmation(chat)
    assert "应付金额：¥100.00" in chat.text
    assert [b.text for b in chat.buttons()] == [
        "👛 钱包余额支付",
        "🧪 模拟支付（测试）",
        "🎟 使用优惠码",
        ADD,
        "✖️ 取消订单",
    ]
    await chat.press("加购")
    assert chat.last.notice == "已加购流量包，应付金额 ¥125.00。"
    confirmation = chat.text
    assert "商品：100元话费 + 5GB流量包（30天）" in confirmation
    assert "应付金额：¥125.00" in confirmation
    assert "原价 ¥130.00" in confirmation
    assert "• 组合优惠立减 ¥5.00" in confirmation
    assert "预计获得 310 积分，¥5.00 红包返到钱包" in confirmation  # (130 × 2) + 50
    assert "加购" not in " ".join(b.text for b in chat.buttons())

    await chat.press("模拟支付")
    receipt = chat.text
    assert receipt.startswith("✅ 充值成功")
    assert "商品：100元话费 + 5GB流量包（30天）" in receipt
    assert "金额：¥125.00" in receipt
    assert "• 组合优惠立减 ¥5.00" in receipt
    assert "已获得 310 积分，¥5.00 红包已到钱包" in receipt
    await chat.send("/orders")
    assert "100元话费 + 5GB流量包（30天）" in chat.buttons()[0].text


async def test_the_pack_can_be_taken_off_again(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await _confirmation(chat, product="50元")
    await chat.press("加购")
    assert "应付金额：¥75.00" in chat.text
    await chat.press("不要流量包")
    assert "应付金额：¥50.00" in chat.text and "流量包" not in chat.text.split("\n")[1]
    assert "组合优惠" not in chat.text
    await chat.press("加购")  # offered again
    assert "应付金额：¥75.00" in chat.text


async def test_no_bundle_button_on_a_data_order(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await _confirmation(chat, kind="流量", product="5GB")
    assert not [b for b in chat.buttons() if "加购" in b.text]


async def test_a_forged_or_stale_bundle_button_changes_nothing(shop: App) -> None:
    owner = Chat.of(shop.conversation)
    await _confirmation(owner)
    add = owner.button("加购").data or ""

    stranger = Chat.of(shop.conversation, telegram_id=7777)
    await stranger.send("/start")
    await stranger.press_data(add)  # another customer's order
    assert stranger.texts == ["没有找到这个订单。"]
    order_id = int(add.split(":")[1])
    untouched = await shop.services.ordering.get(order_id)
    assert untouched.status is OrderStatus.CREATED and untouched.bundle is None

    forged_pack = add.rsplit(":", 1)[0] + ":1"  # a call-credit product as the "pack"
    await owner.press_data(forged_pack)
    assert owner.texts[0] == "该组合优惠现在不可用，订单未作改动。"
    assert "应付金额：¥100.00" in owner.text
    await owner.press_data(add)
    assert "应付金额：¥125.00" in owner.text
    await owner.press_data(add)  # the same button again: the pack is in the order already
    assert owner.last.notice == "流量包已在订单里，应付金额 ¥125.00。"
    assert "应付金额：¥125.00" in owner.text and f"R20261120{order_id:06d}" in owner.text
    assert (await shop.services.ordering.get(order_id)).amount.fen == 12500


async def test_english_bundle_button_and_receipt(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=8080, language="en")
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press("¥100")
    await chat.press("➕ Add 5 GB data (30 days) for ¥25.00, save ¥5.00")
    assert chat.last.notice == "Data pack added; to pay: ¥125.00."
    assert "Product: ¥100 call credit + 5 GB data (30 days)\n" in chat.text
    assert "To pay: ¥125.00" in chat.text and "• Bundle: ¥5.00 off" in chat.text
    assert "➖ Remove the data pack" in [b.text for b in chat.buttons()]
    await chat.press("Sandbox")
    assert chat.text.startswith("✅ Recharge completed")
    assert "Product: ¥100 call credit + 5 GB data (30 days)\n" in chat.text
    assert "Amount: ¥125.00" in chat.text


def _number_line(text: str) -> str:
    return next(line for line in text.split("\n") if line.startswith("订单号"))


async def test_pack_then_coupon_then_pay_is_one_order_paid_at_the_final_price(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await _confirmation(chat)
    number = _number_line(chat.text)
    first_pay = chat.button("模拟支付").data or ""  # of the confirmation before any change
    await chat.press("加购")
    assert "应付金额：¥125.00" in chat.text and _number_line(chat.text) == number
    await chat.press("使用优惠码")
    await chat.send("wallet5")
    assert chat.texts[0] == "优惠码已使用，应付金额 ¥120.00。"
    assert "应付金额：¥120.00" in chat.text and _number_line(chat.text) == number

    await chat.send("/orders")
    orders = [b.text for b in chat.buttons() if "¥" in b.text]
    assert len(orders) == 1 and "¥120 " in orders[0] and "待支付" in orders[0]

    await chat.press_data(first_pay)  # pays the order as it is now
    assert chat.text.startswith("✅ 充值成功")
    assert "金额：¥120.00" in chat.text and _number_line(chat.text) == number
    assert "100元话费 + 5GB流量包（30天）" in chat.text
    await chat.send("/orders")
    orders = [b.text for b in chat.buttons() if "¥" in b.text]
    assert len(orders) == 1 and "¥120 " in orders[0] and "已关闭" not in orders[0]


async def test_an_old_coupon_or_pack_button_works_on_the_order_as_it_is(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await _confirmation(chat)
    number = _number_line(chat.text)
    add = chat.button("加购").data or ""
    coupon = chat.button("使用优惠码").data or ""
    await chat.press_data(add)
    remove = chat.button("不要流量包").data or ""
    await chat.press_data(remove)
    assert "应付金额：¥100.00" in chat.text
    await chat.press_data(remove)  # the button of a confirmation that had the pack
    assert chat.last.notice == "订单里已没有流量包，应付金额 ¥100.00。"
    assert "应付金额：¥100.00" in chat.text and _number_line(chat.text) == number
    await chat.press_data(add)
    await chat.press_data(coupon)  # from the first confirmation: applies to the bundle order
    await chat.send("WALLET5")
    assert "应付金额：¥120.00" in chat.text and _number_line(chat.text) == number
    assert "该订单已关闭" not in chat.text


async def test_an_order_whose_payment_started_is_not_changed_and_says_so(
    sqlite_url: str,
) -> None:
    settings = make_settings(
        sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0, sandbox_payment_mode="timeout"
    )
    app = await build_app(settings, clock=Clock())
    try:
        await app.services.campaigns.load(demo_campaigns(START))
        chat = Chat.of(app.conversation, telegram_id=4242, language="en")
        await chat.send("/recharge")
        await chat.send("18612345678")
        await chat.press("¥100")
        add = chat.button("➕ Add").data or ""
        order_id = int(add.split(":")[1])
        await chat.press("Sandbox")  # the provider gives no answer: the payment is under way
        await chat.press_data(add)
        assert chat.texts[0].startswith("A payment of this order has started")
        assert "To pay: ¥100.00" in chat.text
        assert not [b for b in chat.buttons() if "Add" in b.text or "coupon" in b.text]
        order = await app.services.ordering.get(order_id)
        assert (order.amount.fen, order.bundle) == (10000, None)
    finally:
        await app.close()
