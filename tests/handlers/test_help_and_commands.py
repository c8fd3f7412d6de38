"""/help lists every command a person has, built from the commands the conversation registered;
the command menus a front end sets at start say the same, per language and for staff."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.languages import Language
from handlers.commands import command_menus
from handlers.i18n import catalogue
from tests.conftest import make_settings
from tests.handlers.chat import Chat

STAFF_ID = 7001


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    app = await build_app(make_settings(sqlite_url, demo_mode=True, admin_ids=str(STAFF_ID)))
    try:
        yield app
    finally:
        await app.close()


def test_every_registered_command_is_described_in_every_language(shop: App) -> None:
    router = shop.conversation
    names = router.command_names(staff=False) + router.command_names(staff=True)
    assert set(names) == router.commands
    for language in Language:
        for name in names:
            assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
            description = catalogue(language).get(f"command.{name}", "")
            assert 0 < len(description) <= 256, (language, name)


async def test_help_lists_every_customer_command_and_staff_see_theirs(shop: App) -> None:
    router = shop.conversation
    customer = Chat.of(router)
    await customer.send("/help")
    lines = customer.texts[0].splitlines()
    assert lines[0] == "可用命令："
    listed = {line.split()[0][1:] for line in lines[1:]}
    assert listed == set(router.command_names(staff=False))
    assert "/recharge 充值话费或流量" in lines and "/tickets" not in customer.texts[0]

    staff = Chat(router, TelegramProfile(STAFF_ID, "Agent", None, None, "en"))
    await staff.send("/help")
    text = staff.texts[0]
    assert text.startswith("Commands:\n/start start and show the menu")
    assert "\n\nStaff commands:\n" in text
    for name in router.command_names(staff=True):
        assert f"\n/{name} " in text


def test_command_menus_per_language_and_for_each_staff_member(shop: App) -> None:
    router = shop.conversation
    menus = {(m.chat_id, m.language_code): m.commands for m in command_menus(router, [STAFF_ID])}
    assert set(menus) == {
        (None, None),
        (None, "zh"),
        (None, "en"),
        (STAFF_ID, None),
        (STAFF_ID, "zh"),
        (STAFF_ID, "en"),
    }
    assert ("recharge", "充值话费或流量") in menus[None, None]
    assert ("recharge", "recharge call credit or data") in menus[None, "en"]
    assert "tickets" not in dict(menus[None, "en"]) and "tickets" in dict(menus[STAFF_ID, "en"])
