"""PIPL consent as a new customer lives it (turned on here; off in the other tests): the first
/start asks to agree, nothing personal is kept before, marketing pushes are a separate choice,
and /privacy says how long data is kept and that chats cross Telegram's servers abroad."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from tests.conftest import make_settings
from tests.handlers.chat import Chat

NUMBER = "18612345678"


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    settings = make_settings(sqlite_url, demo_mode=True, privacy_consent_required=True)
    app = await build_app(settings)
    try:
        yield app
    finally:
        await app.close()


async def test_no_number_is_kept_before_the_customer_agrees(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    assert chat.texts[0].startswith("小明，您好")
    assert chat.texts[1].startswith("🔒 个人信息保护提示")
    assert "/privacy" in chat.texts[1]
    assert [b.text for b in chat.buttons()] == [
        "✅ 同意隐私说明",
        "✅ 同意，并接收优惠推送",
        "📄 查看隐私说明",
    ]
    await chat.send(f"/bind {NUMBER}")
    assert chat.texts[0].startswith("🔒 个人信息保护提示")
    assert await shop.services.customers.phones(1) == []
    await chat.send("/recharge")
    assert chat.texts[0].startswith("🔒 个人信息保护提示")

    await chat.press("查看隐私说明")
    assert "位于中国大陆境外" in chat.texts[0] and "/delete_my_data" in chat.texts[0]

    await chat.send("/start")
    await chat.press("✅ 同意隐私说明")
    assert chat.texts[0].startswith("谢谢！您已同意隐私说明，不会收到优惠推送")
    assert not await shop.services.broadcasts.pushes_on(1)
    await chat.send(f"/bind {NUMBER}")
    assert chat.texts[0] == "绑定成功：186****5678（中国联通）"
    await chat.send("/start")
    assert "🔒 个人信息保护提示" not in chat.text


async def test_marketing_pushes_are_a_separate_choice(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=2002, language="en")
    await chat.send("/start")
    await chat.press("send me offers")
    assert chat.texts[0].startswith("Thank you! You agreed to the privacy notice and to receive")
    assert await shop.services.broadcasts.pushes_on(1)
