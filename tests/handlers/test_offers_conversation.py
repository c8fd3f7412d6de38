"""Offers, points and rewards as a customer sees them, with the demo campaign live."""

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


async def _recharge(chat: Chat, yuan: int, *, pay: str = "模拟支付") -> str:
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press(f"{yuan}元")
    confirmation = chat.texts[0]
    await chat.press(pay)
    return confirmation


async def test_offers_show_countdown_slots_and_terms(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/offers")
    text = chat.texts[0]
    assert "🎯 数字钱包充值节（还剩 9 天 23 小时）" in text
    assert "• 前 100 笔充值享 2 倍积分（剩余 100/100 个名额）" in text
    assert "• 单笔每满 ¥100.00 立返 ¥10.00 红包" in text
    assert "WALLET5" not in text  # coupon codes are not published here
    await chat.press("数字钱包充值节 活动规则")
    assert "前100笔充值享双倍积分" in chat.texts[0]
    assert "🎟 优惠码 WALLET5：确认订单时点“🎟 使用优惠码”并输入即可。" in chat.texts[0]
    await chat.press("立即充值")
    assert chat.texts[0].startswith("请输入要充值的 11 位手机号码")


async def test_a_new_customers_first_recharge_earns_what_the_confirmation_promised(
    shop: App,
) -> None:
    chat = Chat.of(shop.conversation)
    confirmation = await _recharge(chat, 100)
    assert "本单享受的优惠：" in confirmation
    assert "• 2 倍积分" in confirmation
    assert "• 首充礼：¥5.00 红包 + 50 积分" in confirmation
    assert "预计获得 250 积分，¥5.00 红包返到钱包" in confirmation
    receipt = chat.texts[0]
    assert receipt.startswith("✅ 充值成功")
    assert "已获得 250 积分，¥5.00 红包已到钱包" in receipt
    await chat.send("/points")
    assert chat.texts[0].startswith("积分余额：250\n会员等级：普通会员")
    assert "近12个月再充值 ¥400.00 即可升级为银卡会员" in chat.texts[0]
    await chat.send("/wallet")
    assert chat.texts[0].startswith("钱包余额：¥5.00")
    await chat.send("/offers")
    assert "（剩余 99/100 个名额）" in chat.texts[0]


async def test_existing_customers_get_red_packets_per_100_yuan(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await _recharge(chat, 10)
    await chat.send("/wallet")
    before = chat.texts[0]
    await _recharge(chat, 300)
    assert "• 每满 ¥100.00 返 ¥10.00，共返 ¥30.00 红包" in chat.texts[0]
    assert "• 大额充值加送 ¥8.00 红包" in chat.texts[0]
    await chat.send("/wallet")
    assert before.startswith("钱包余额：¥5.00") and chat.texts[0].startswith("钱包余额：¥43.00")


async def test_a_coupon_lowers_the_price_and_guessing_is_throttled(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press("50元")
    await chat.press("使用优惠码")
    await chat.send("nope")
    assert chat.texts[0].startswith("优惠码无效")
    await chat.send("wallet5")
    assert chat.texts[0] == "优惠码已使用，应付金额 ¥45.00。"
    assert "原价 ¥50.00" in chat.texts[1] and "应付金额：¥45.00" in chat.texts[1]
    assert "使用优惠码" not in [b.text for b in chat.buttons()]
    await chat.press("模拟支付")
    assert "金额：¥45.00" in chat.texts[0]

    guesser = Chat.of(shop.conversation, telegram_id=7777)
    await guesser.send("/recharge")
    await guesser.send("18612345678")
    await guesser.press("50元")
    await guesser.press("使用优惠码")
    for attempt in range(4):
        await guesser.send(f"GUESS{attempt}")
        assert guesser.texts[0].startswith("优惠码无效、已过期")
    await guesser.send("GUESS4")  # the fifth wrong code pauses coupon entry
    assert guesser.texts[0].startswith("优惠码无效。错误次数过多，优惠码输入已暂停至 ")
    # The way on: the order, payable without the code.
    assert guesser.texts[1].startswith("请确认订单") and "模拟支付" in guesser.buttons()[1].text
    await guesser.press("使用优惠码")
    await guesser.send("WALLET5")  # even a right code waits for the window's end
    assert guesser.texts[0].startswith("尝试次数过多，优惠码输入已暂停至 ")


async def test_redeeming_points_once_per_confirmation(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await _recharge(chat, 300)  # 300 x2 + 50 = 650 points
    await chat.send("/points")
    assert chat.texts[0].startswith("积分余额：650")
    await chat.press("积分兑换")
    assert chat.texts[0].startswith("积分余额 650，请选择要兑换的礼品：")
    await chat.press("5元充值抵用券")
    assert chat.texts[0].startswith("兑换「5元充值抵用券」需要 500 积分")
    assert "（当前 650 积分，兑换后剩余 150 积分）" in chat.texts[0]
    yes = chat.button("确认兑换").data or ""
    await chat.press_data(yes)
    assert chat.texts[0].startswith("兑换成功：5元充值抵用券。")
    assert chat.texts[0].endswith("剩余积分 150。")
    await chat.press_data(yes)  # a double tap: nothing more is taken
    await chat.send("/points")
    assert chat.texts[0].startswith("积分余额：150")
    assert chat.texts[0].count("• 5元充值抵用券：立减 ¥5.00") == 1  # one coupon, not two


async def test_english_offers_and_points(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=8080, language="en")
    await chat.send("/offers")
    assert "🎯 Digital wallet recharge festival (ends in 9 d 23 h)" in chat.texts[0]
    assert "• The first 100 recharges earn 2× points (100 of 100 left)" in chat.texts[0]
    await chat.send("/points")
    assert chat.texts[0].startswith("Points: 0\nTier: Member")


async def test_no_live_offers_is_said_plainly(shop: App, clock: Clock) -> None:
    clock.now = START + timedelta(days=11)
    chat = Chat.of(shop.conversation)
    await chat.send("/offers")
    assert chat.texts[0] == "目前没有进行中的优惠活动，敬请期待。"
