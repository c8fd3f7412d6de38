"""Redeeming points delivers what it names: a coupon the customer sees in /points and uses at
checkout once; the cost is shown before confirming and rewards out of reach are locked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.assembly import App, build_app
from bot.cli import demo_campaigns
from tests.conftest import make_settings
from tests.handlers.chat import Chat

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def shop(sqlite_url: str, clock: Clock) -> AsyncIterator[App]:
    settings = make_settings(sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings, clock=clock)
    await app.services.campaigns.load(demo_campaigns(START))
    try:
        yield app
    finally:
        await app.close()


async def _order(chat: Chat, yuan: int, *, product: str = "") -> None:
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press(product or f"{yuan}元")


async def _redeem_coupon(chat: Chat) -> None:
    await _order(chat, 300)
    await chat.press("模拟支付")  # 300 x2 + 50 = 650 points
    await chat.send("/points")
    await chat.press("积分兑换")
    await chat.press("5元充值抵用券")
    await chat.press("确认兑换")


async def test_the_cost_is_shown_before_confirming_and_rewards_out_of_reach_are_locked(
    shop: App,
) -> None:
    chat = Chat.of(shop.conversation)
    await _order(chat, 300)
    await chat.press("模拟支付")
    await chat.send("/points")
    await chat.press("积分兑换")
    assert chat.texts[0].startswith("积分余额 650，请选择要兑换的礼品：")
    assert "🔒 表示积分不足" in chat.texts[0]
    labels = [b.text for b in chat.buttons()]
    assert "5元充值抵用券 · 500积分（剩 1000）" in labels
    assert "🔒 1GB流量包（7天） · 800积分（剩 500）" in labels
    assert not any("雨伞" in label for label in labels)  # no physical goods
    await chat.press("1GB流量包")
    assert chat.last.notice == "积分不足：兑换「1GB流量包（7天）」需要 800 积分，还差 150 积分。"
    assert "确认兑换" not in [b.text for b in chat.buttons()]
    await chat.press("5元充值抵用券")
    assert chat.texts[0] == (
        "兑换「5元充值抵用券」需要 500 积分（当前 650 积分，兑换后剩余 150 积分）。确认兑换吗？\n"
        "🎟 可抵扣一笔充值 ¥5.00，自兑换当天起 30 天内有效。"
    )


async def test_a_redeemed_coupon_is_shown_and_takes_five_yuan_off_one_recharge(
    shop: App,
) -> None:
    chat = Chat.of(shop.conversation)
    await _redeem_coupon(chat)
    assert chat.texts[0] == (
        "兑换成功：5元充值抵用券。\n"
        "🎟 您的抵用券：立减 ¥5.00，2026-12-19 前有效。"
        "充值时在订单确认页点“使用我的抵用券”即可抵扣。\n"
        "剩余积分 150。"
    )
    await chat.send("/points")
    assert "🎟 我的抵用券：\n• 5元充值抵用券：立减 ¥5.00，2026-12-19 前有效" in chat.texts[0]

    await _order(chat, 50)
    await chat.press("使用我的抵用券 ¥5.00")
    assert "• 我的抵用券立减 ¥5.00" in chat.texts[0]
    assert "应付金额：¥45.00" in chat.texts[0]
    assert not [b for b in chat.buttons() if "使用我的抵用券" in b.text]  # once per order
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")
    assert "金额：¥45.00" in chat.texts[0]

    await chat.send("/points")
    assert "我的抵用券" not in chat.texts[0]  # used
    await _order(chat, 50)
    assert not [b for b in chat.buttons() if "使用我的抵用券" in b.text]
    assert "应付金额：¥50.00" in chat.texts[0]


async def test_a_coupon_comes_back_when_its_order_expires_unpaid(shop: App, clock: Clock) -> None:
    chat = Chat.of(shop.conversation)
    await _redeem_coupon(chat)
    await _order(chat, 50)
    await chat.press("使用我的抵用券 ¥5.00")
    await chat.press("取消订单")
    await _order(chat, 30)
    await chat.press("使用我的抵用券 ¥5.00")
    assert "应付金额：¥25.00" in chat.texts[0]


async def test_english_coupon_redemption(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=8080, language="en")
    await _order(chat, 300, product="¥300")
    await chat.press("Sandbox")
    await chat.send("/points")
    await chat.press("Redeem points")
    await chat.press("¥5 recharge coupon")
    assert "(you have 650; 150 left after)" in chat.texts[0]
    await chat.press("Redeem")
    assert "🎟 Your coupon: ¥5.00 off, valid until 2026-12-19." in chat.texts[0]
    await chat.send("/points")
    assert (
        "🎟 My coupons:\n• ¥5 recharge coupon: ¥5.00 off, valid until 2026-12-19" in (chat.texts[0])
    )


async def _earn_points(chat: Chat) -> None:
    for _ in range(2):  # 650 points, then 600 more
        await _order(chat, 300)
        await chat.press("模拟支付")


async def test_a_redeemed_data_pack_asks_the_number_and_tops_it_up_with_a_receipt(
    shop: App,
) -> None:
    chat = Chat.of(shop.conversation)
    await _earn_points(chat)
    await chat.send("/points")
    balance = chat.texts[0].splitlines()[0]
    await chat.press("积分兑换")
    await chat.press("1GB流量包")
    assert "兑换「1GB流量包（7天）」需要 800 积分" in chat.texts[0]
    assert chat.texts[0].endswith("请选择要充值流量包的号码：")
    await chat.press("输入其他号码")
    await chat.send("12345")
    assert "确认兑换" not in [b.text for b in chat.buttons()]
    await chat.send("18612345678")
    assert "充值号码：186****5678（中国联通）" in chat.texts[0]
    await chat.press("确认兑换")
    assert chat.texts[0].startswith("兑换成功：1GB流量包（7天），正在为您充值。")
    receipt = chat.texts[1]
    assert receipt.startswith("✅ 充值成功")  # the sandbox tops up at once here
    assert "1GB流量包" in receipt and "186****5678" in receipt
    assert "积分兑换" in receipt and "¥0.00" in receipt
    await chat.send("/points")
    assert chat.texts[0].splitlines()[0] != balance
    assert "兑换 -800" in chat.texts[0]


async def test_a_data_pack_the_carrier_cannot_top_up_gives_the_points_back(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await _earn_points(chat)
    await chat.send("/points")
    before = chat.texts[0].splitlines()[0]
    await chat.press("积分兑换")
    await chat.press("1GB流量包")
    await chat.press("输入其他号码")
    await chat.send("18612340000")  # the sandbox carrier fails numbers ending in 0000
    await chat.press("确认兑换")
    assert chat.texts[1].startswith("↩️ 充值失败，已退款")
    assert "兑换所用的积分已退回" in chat.texts[1]
    await chat.send("/points")
    assert chat.texts[0].splitlines()[0] == before
    assert "兑换退回 +800" in chat.texts[0]


async def test_a_coupon_put_on_two_orders_pays_for_one_and_the_other_is_closed_unpaid(
    shop: App,
) -> None:
    chat = Chat.of(shop.conversation)
    await _redeem_coupon(chat)
    await _order(chat, 50)
    await chat.press("使用我的抵用券 ¥5.00")
    first = chat.button("模拟支付").data or ""
    await _order(chat, 30)
    await chat.press("使用我的抵用券 ¥5.00")
    second = chat.button("模拟支付").data or ""
    await chat.press_data(first)
    assert chat.texts[0].startswith("✅ 充值成功") and "金额：¥45.00" in chat.texts[0]
    await chat.press_data(second)
    assert chat.texts[0] == (
        "这张抵用券已在另一笔订单中使用，本订单已关闭，未扣款。可点“再充一次”按原价重新下单。"
    )
    await chat.press("再充一次")
    assert "应付金额：¥30.00" in chat.texts[0]


async def test_a_data_pack_goes_to_a_bound_number_in_english(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=8081, language="en")
    await chat.send("/phones")
    await chat.press("Bind a number")
    await chat.send("18612345678")
    for _ in range(2):
        await chat.send("/recharge")
        await chat.press("¥300")
        await chat.press("Sandbox")
    await chat.send("/points")
    await chat.press("Redeem points")
    await chat.press("1 GB data")
    assert "Which number should get the data pack?" in chat.texts[0]
    await chat.press("To 186****5678")
    assert "Number: 186****5678 (China Unicom)" in chat.texts[0]
    await chat.press("Redeem")
    assert chat.texts[0].startswith("Redeemed: 1 GB data (7 days), topping it up now.")
    assert "186****5678" in chat.texts[1] and "Points" in chat.texts[1]


async def test_erasing_the_account_says_the_unused_coupons_go_too(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/delete_my_data")
    assert "抵用券" not in chat.texts[0]
    await _redeem_coupon(chat)
    await chat.send("/delete_my_data")
    assert (
        "• 未领取的邀请奖励：无\n• 未使用的抵用券：5元充值抵用券（立减 ¥5.00）\n" in chat.texts[0]
    )
