"""Both front ends set Telegram's command menus at start: per language, and for staff chats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from bot.assembly import App
from tests.e2e.test_aiogram_frontend import aiogram_bot
from tests.e2e.test_ptb_frontend import running_bot
from tests.fakes.bot_api import FakeBotApi

Runner = Callable[..., AbstractAsyncContextManager[App]]
STAFF_ID = 1199


@pytest.fixture(params=["ptb", "aiogram"])
def runner(request: pytest.FixtureRequest) -> Runner:
    return running_bot if request.param == "ptb" else aiogram_bot


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
        assert not server.internal_errors


async def test_command_menus_are_set_at_start(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    async with runner(api, sqlite_url, admin_ids=str(STAFF_ID)) as app:
        router = app.conversation
        default = {c["command"]: c["description"] for c in api.commands()}
        english = {c["command"]: c["description"] for c in api.commands(language_code="en")}
        staff = api.commands({"type": "chat", "chat_id": STAFF_ID}, language_code="en")
        assert list(default) == router.command_names(staff=False)
        assert default["recharge"] == "充值话费或流量"
        assert english["recharge"] == "recharge call credit or data"
        assert [c["command"] for c in staff] == (
            router.command_names(staff=False) + router.command_names(staff=True)
        )
