"""A customer and a staff member go through every screen the bot has, in English and in Chinese:
no text and no button shows the other language's script (the customer's own words aside)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.assembly import App, build_app
from bot.cli import demo_campaigns
from domain.customers import TelegramProfile
from domain.languages import Language
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.handlers.script_mix import mix_in

STAFF_ID = 7001
COMPLAINT = "我的账户被盗了"  # a customer's own words, shown to staff as they were written
# Buttons that leave the screens being looked at (or erase the customer): pressed last or never.
NOT_PRESSED = ("🗑", "Delete", "删除", "中文", "English")
# Buttons that name both languages on purpose (the language switch).
BILINGUAL = ("🌐 语言 / Language", "🌐 Language / 语言", "中文", "✓ 中文", "English", "✓ English")
# Besides every registered command: a command with its argument, one unknown, a stray text.
EXTRA = ("/ticket 1", "/nonsense", "what?")


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    settings = make_settings(
        sqlite_url,
        demo_mode=True,
        sandbox_topup_delay_seconds=0,
        bot_username="wallet_test_bot",
        admin_ids=str(STAFF_ID),
    )
    app = await build_app(settings)
    await app.services.campaigns.load(demo_campaigns(datetime.now(UTC)))
    try:
        yield app
    finally:
        await app.close()


def _shown(chat: Chat) -> list[str]:
    return [*chat.texts, *(b.text for b in chat.buttons()), chat.last.notice or ""]


async def _walk(chat: Chat, language: Language) -> dict[str, list[str]]:
    """Every command, then every button of its answer (one level down), with the words each
    screen showed in the wrong script."""
    mixed: dict[str, list[str]] = {}

    def look(where: str) -> None:
        for text in _shown(chat):
            if text in BILINGUAL:
                continue
            text = text.replace(COMPLAINT, "")
            if found := mix_in(language, text):
                mixed[f"{where}: {text[:60]!r}"] = found

    await chat.send("/bind 18612345678")
    await chat.send("/recharge")
    look("/recharge")
    for label in ("86", "话费" if language is Language.ZH_CN else "Call credit"):
        await chat.press(label) if any(label in b.text for b in chat.buttons()) else None
        look(f"recharge {label}")
    product = chat.buttons()[0].text
    await chat.press(product)
    look("confirmation")
    await chat.press("🧪")
    look("receipt")
    router = chat.conversation
    names = router.command_names(staff=False) + router.command_names(staff=True)
    commands = [f"/{name}" for name in names if name != "delete_my_data"] + list(EXTRA)
    for command in commands:
        await chat.send(command)
        look(command)
        for button in chat.buttons()[:12]:
            if button.data is None or any(word in button.text for word in NOT_PRESSED):
                continue
            await chat.send(command)
            await chat.press_data(button.data)
            look(f"{command} > {button.text}")
    return mixed


@pytest.mark.parametrize(
    ("language", "profile"),
    [
        (Language.EN, TelegramProfile(STAFF_ID, "Ming", None, "ming", "en")),
        (Language.ZH_CN, TelegramProfile(STAFF_ID, "小明", None, "xm", "zh-hans")),
    ],
)
async def test_every_screen_speaks_one_language(
    shop: App, language: Language, profile: TelegramProfile
) -> None:
    customer = Chat.of(shop.conversation, telegram_id=2002)  # writes Chinese to the staff
    await customer.send("/bind 13900001111")
    await customer.send("/feedback")
    await customer.press("投诉")
    await customer.press("账户或安全")
    await customer.send(COMPLAINT)
    chat = Chat(shop.conversation, profile)
    mixed = await _walk(chat, language)
    assert not mixed, "\n".join(f"{k} {v}" for k, v in mixed.items())
