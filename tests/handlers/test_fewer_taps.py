"""Fewer taps: a returning customer recharges their one number in three inputs, "recharge again"
takes two, the denomination grid reads like the wallet app's. The counts are printed (-s)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.catalogue import Product, ProductKind
from domain.languages import Language
from domain.money import Money
from handlers.features.recharge import denomination_label
from handlers.i18n import texts
from tests.conftest import make_settings
from tests.handlers.chat import Chat

NUMBER = "18612345678"
MASKED = "186****5678"


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    settings = make_settings(sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings)
    try:
        yield app
    finally:
        await app.close()


async def _returning_customer(app: App) -> Chat:
    chat = Chat.of(app.conversation)
    await chat.send(f"/bind {NUMBER}")
    await chat.send("/recharge")
    await chat.press("30元")
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")
    return chat


def _counted(what: str, chat: Chat, since: int, target: int) -> int:
    inputs = chat.inputs - since
    print(f"{what}: {inputs} inputs (target <= {target})")
    return inputs


async def test_a_returning_customer_recharges_their_one_number_in_three_inputs(
    shop: App,
) -> None:
    chat = await _returning_customer(shop)
    since = chat.inputs
    await chat.send("/recharge")
    # Straight to call credit for the one number: shown, with "change" and data one tap away.
    assert chat.texts[0] == f"📞 为 {MASKED}（中国联通）充话费，请选择面额："
    labels = [b.text for b in chat.buttons()]
    assert labels[:3] == ["10元", "20元", "30元"] and "50元" in labels
    assert "📶 流量" in labels and "✏️ 换号码" in labels
    await chat.press("50元")
    assert chat.texts[0].startswith("请确认订单")
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功") and "50元话费" in chat.texts[0]
    assert _counted("/recharge to receipt, one bound number", chat, since, 3) <= 3


async def test_data_is_one_tap_away_and_change_number_asks_for_another(shop: App) -> None:
    chat = await _returning_customer(shop)
    await chat.send("/recharge")
    await chat.press("流量")
    assert chat.texts[0] == f"📶 为 {MASKED}（中国联通）充流量，请选择流量包："
    assert any("GB" in b.text and "¥" in b.text for b in chat.buttons())
    await chat.press("话费")
    assert chat.texts[0].startswith("📞 为")
    await chat.press("换号码")
    assert chat.texts[0].startswith("请输入要充值的 11 位手机号码")
    await chat.send("139 0000 1111")
    assert chat.texts[0] == "📞 为 139****1111（中国移动）充话费，请选择面额："


async def test_recharge_again_from_a_receipt_or_orders_takes_two_inputs(shop: App) -> None:
    chat = await _returning_customer(shop)
    since = chat.inputs
    await chat.press("再充一次")
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功") and "30元话费" in chat.texts[0]
    assert _counted("recharge again from a receipt", chat, since, 2) <= 2

    await chat.send("/orders")
    assert "¥30 " in chat.buttons()[0].text and "¥30.00" not in chat.buttons()[0].text
    since = chat.inputs
    await chat.press(f"🔁 再充一次：{MASKED} 30元话费")
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")
    assert _counted("recharge again from /orders", chat, since, 2) <= 2


async def test_a_typed_number_can_be_bound_in_one_tap_after_its_receipt(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/recharge")
    await chat.send("＋８６ １３９－００００－１１１１")  # a Chinese keyboard's full-width number
    await chat.press("20元")
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")
    await chat.press("绑定 139****1111")
    assert "139****1111" in chat.texts[0] and chat.last.notice is not None
    await chat.send("/recharge")
    assert chat.texts[0].startswith("📞 为 139****1111（中国移动）充话费")


def test_grid_buttons_show_whole_yuan_and_a_price_only_when_it_differs() -> None:
    def credit(face: int, price: int) -> Product:
        return Product(1, ProductKind.CREDIT, "c", "话费", "credit", Money(price), Money(face))

    zh, en = texts(Language.ZH_CN), texts(Language.EN)
    assert denomination_label(zh, credit(5000, 5000)) == "50元"
    assert denomination_label(zh, credit(5000, 4950)) == "50元 ¥49.50"
    assert denomination_label(en, credit(5000, 5000)) == "¥50"
    assert denomination_label(en, credit(5000, 4950)) == "¥50 for ¥49.50"


def test_amounts_of_four_digits_and_more_have_thousands_separators() -> None:
    assert Money(145000).format() == "¥1,450.00"
    assert Money(145000).short() == "¥1,450"
    assert Money(4950).short() == "¥49.50"
    assert Money(-123456789).format() == "-¥1,234,567.89"


async def test_a_grid_button_pressed_after_the_chat_moved_on_recharges_the_number_it_showed(
    shop: App,
) -> None:
    chat = await _returning_customer(shop)
    await chat.send("/recharge")
    fifty = chat.button("50元").data
    data = chat.button("📶 流量").data
    await chat.press("30元")
    await chat.press("模拟支付")  # the recharge is done; the grid is still in the chat
    assert chat.texts[0].startswith("✅ 充值成功")
    await chat.press_data(fifty or "")
    assert chat.texts[0].startswith("请确认订单") and MASKED in chat.texts[0]
    assert "50元" in chat.texts[0]
    await chat.send("/cancel")
    await chat.press_data(data or "")
    assert chat.texts[0] == f"📶 为 {MASKED}（中国联通）充流量，请选择流量包："


async def test_a_grid_button_of_a_number_no_longer_bound_says_the_button_expired(
    shop: App,
) -> None:
    chat = await _returning_customer(shop)
    await chat.send("/recharge")
    fifty = chat.button("50元").data
    await chat.send("/phones")
    await chat.press(f"解绑 {MASKED}")
    await chat.send("/cancel")
    await chat.press_data(fifty or "")
    assert not any(text.startswith("请确认订单") for text in chat.texts)
    assert chat.last.notice == "这个按钮已失效，请从最新菜单中选择。"
