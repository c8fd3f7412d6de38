"""No dead ends: typed amounts and words the bot understands, a cancel button under every prompt
that waits for text, limits said up front, and a way on after every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from tests.conftest import make_settings
from tests.handlers.chat import Chat

NUMBER = "18612345678"


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    settings = make_settings(
        sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0, recharge_daily_fen=6000
    )
    app = await build_app(settings)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def chat(shop: App) -> Chat:
    chat = Chat.of(shop.conversation)
    await chat.send(f"/bind {NUMBER}")
    return chat


@pytest.mark.parametrize("typed", ["50", "50元", "五十", "５０", "¥50"])
async def test_a_typed_amount_on_the_grid_picks_it(chat: Chat, typed: str) -> None:
    await chat.send("/recharge")
    await chat.send(typed)
    assert chat.texts[0].startswith("请确认订单") and "商品：50元话费" in chat.texts[0]


async def test_a_typed_amount_on_the_confirmation_picks_another(chat: Chat) -> None:
    await chat.send("/recharge")
    await chat.press("10元")
    await chat.send("二十")
    assert chat.texts[0].startswith("请确认订单") and "商品：20元话费" in chat.texts[0]
    await chat.send("45")
    assert chat.texts[0].startswith("没有 45 元这一档，可选：10元、20元、30元")
    assert chat.texts[1].startswith("📞 为 186****5678")


@pytest.mark.parametrize(
    ("word", "screen"),
    [
        ("充值", "📞 为 186****5678（中国联通）充话费"),
        ("话费", "📞 为 186****5678（中国联通）充话费"),
        ("流量", "📶 为 186****5678（中国联通）充流量"),
        ("积分", "积分余额：0"),
        ("客服", "我们在听。"),
        ("人工客服", "我们在听。"),
        ("投诉", "请选择问题类型："),
        ("help", "可用命令："),
        ("Recharge", "📞 为 186****5678（中国联通）充话费"),
        ("Points", "积分余额：0"),
        ("complaint", "请选择问题类型："),
    ],
)
async def test_words_open_their_screen(chat: Chat, word: str, screen: str) -> None:
    await chat.send(word)
    assert chat.texts[0].startswith(screen), chat.texts


async def _complaint_prompt(chat: Chat) -> None:
    await chat.send("投诉")
    await chat.press("其他")


async def test_text_right_after_a_ticket_opened_is_added_to_it(chat: Chat, shop: App) -> None:
    await _complaint_prompt(chat)
    await chat.send("充值后一直没到账")
    assert chat.texts[0].startswith("✅ 已为您创建工单 #1。")
    await chat.send("订单号是 R123")
    assert chat.texts[0] == "已转交客服（工单 #1）。"
    transcript = await shop.services.support.transcript(1)
    assert any(line.text == "订单号是 R123" for line in transcript)


async def test_a_complaint_over_the_limit_is_refused_with_the_limit(chat: Chat) -> None:
    await _complaint_prompt(chat)
    await chat.send("太" * 2001)
    assert (
        chat.texts[0]
        == "这条消息有 2001 字，超过了 2000 字的上限。请精简后重新发送，或发送 /cancel 取消。"
    )
    await chat.send("太慢了")
    assert chat.texts[0].startswith("✅ 已为您创建工单 #1。")


async def test_every_prompt_for_text_says_how_to_cancel_and_has_a_cancel_button(
    chat: Chat,
) -> None:
    prompts = []
    await _complaint_prompt(chat)
    prompts.append(chat.replies[-1])
    await chat.send("/feedback")
    await chat.press("提建议")
    prompts.append(chat.replies[-1])
    for prompt in prompts:
        assert "/cancel" in prompt.text and "最多 2000 字" in prompt.text
        assert prompt.buttons[0][0].text == "✖️ 取消"
    await chat.press("取消")  # under the suggestion prompt
    assert chat.texts[0] == "已取消。" and chat.texts[1] == "请选择您要办理的业务："
    await chat.send("这句话不会成为工单")
    assert chat.texts[0].startswith("抱歉，我没有理解")


async def test_the_five_number_limit_is_said_before_a_sixth_is_typed(chat: Chat) -> None:
    for number in ("13900001111", "13900002222", "13900003333"):
        await chat.send(f"/bind {number}")
    await chat.send("/bind")
    assert chat.texts[0] == "这将是您的最后一个号码：最多可绑定 5 个。"
    await chat.send("13900004444")
    await chat.send("/bind")
    assert chat.texts == ["您已绑定 5 个号码，已达上限。请先解绑一个再绑定新号码。"]
    assert [b.text for b in chat.buttons()] == ["📱 我的号码", "« 返回菜单"]


async def test_a_number_bound_already_offers_to_recharge_it(chat: Chat) -> None:
    await chat.send(f"/bind {NUMBER}")
    assert chat.texts[0] == "号码 186****5678 已经绑定过了。"
    await chat.press("为 186****5678 充值")
    assert chat.texts[0].startswith("📞 为 186****5678（中国联通）充话费")


async def test_refusals_offer_the_way_on(chat: Chat) -> None:
    await chat.send("/recharge")
    await chat.press("50元")
    await chat.press("模拟支付")
    await chat.send("/recharge")
    await chat.press("20元")  # over the daily limit of ¥60
    assert chat.texts[0].startswith("已超过每日充值限额")
    assert [b.text for b in chat.buttons()] == ["🧾 我的订单", "« 返回菜单"]


async def test_no_benefits_heading_and_no_list_price_without_a_benefit(chat: Chat) -> None:
    await chat.send("/recharge")
    await chat.press("50元")
    confirmation = chat.texts[0]
    assert "本单享受的优惠" not in confirmation and "原价" not in confirmation
