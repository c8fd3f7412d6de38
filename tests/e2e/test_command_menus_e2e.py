"""Both front ends set Telegram's command menus at start: per language, and for staff chats."""

from __future__ import annotations

from tests.e2e.conftest import Runner
from tests.fakes.bot_api import FakeBotApi

STAFF_ID = 1199


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
