"""A payment PIN typed over real HTTP is deleted from the chat by each front end (deleteMessage
on the fake Bot API server) right after it is read, before the answer."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Runner
from tests.fakes.bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(30)

ANN = FakeUser(id=1201, first_name="Ann", language_code="en")


async def test_each_pin_message_is_deleted_once_read(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    api.add_user(ANN)
    async with runner(api, sqlite_url):
        api.send_text(ANN, "/pin")
        [ask] = await api.wait_for_message(ANN.id)
        assert ask["text"].startswith("🔐 Please send a new 6-digit payment PIN")
        for pin, answer in (("246810", "🔐 Please enter the new PIN once more"), ("246810", "✅")):
            api.send_text(ANN, pin)
            [reply] = await api.wait_for_message(ANN.id)
            assert reply["text"].startswith(answer)
            # The PIN's message (just before the answer) is gone from the chat.
            pin_message_id = reply["message_id"] - 1
            assert (ANN.id, pin_message_id) in api.deleted
            assert api.message(ANN.id, pin_message_id) is None
        assert len([d for d in api.deleted if d[0] == ANN.id]) == 2
