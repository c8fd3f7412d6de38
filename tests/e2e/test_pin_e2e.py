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


BEN = FakeUser(id=1202, first_name="Ben", language_code="en")
CONTACT = "+8618612345678"


async def test_a_forgotten_pin_is_reset_by_sharing_the_verified_contact(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    api.add_user(BEN)
    async with runner(api, sqlite_url):
        api.send_text(BEN, "/bind")
        await api.wait_for_message(BEN.id)
        api.press_keyboard_button(BEN, "📱 Share my phone number", phone_number=CONTACT)
        await api.wait_for_message(BEN.id, 2)
        api.send_text(BEN, "/pin")
        await api.wait_for_message(BEN.id)
        for _ in range(2):
            api.send_text(BEN, "246810")
            await api.wait_for_message(BEN.id)
        api.send_text(BEN, "/pin")
        [ask] = await api.wait_for_message(BEN.id)
        assert ask["text"].startswith("🔐 Please enter your current 6-digit payment PIN")
        api.press_button(BEN, ask, text="Forgot your PIN?")
        [reset] = await api.wait_for_message(BEN.id)
        assert reset["text"].startswith("🔐 Reset your payment PIN")
        api.press_keyboard_button(BEN, "📱 Share my contact to verify", phone_number=CONTACT)
        verified, ask_new = await api.wait_for_message(BEN.id, 2)
        assert verified["text"] == "✅ Verified."
        assert ask_new["text"].startswith("🔐 Please send a new 6-digit payment PIN")
        assert api.reply_keyboard(BEN.id) is None
        deleted_before = len([d for d in api.deleted if d[0] == BEN.id])
        for answer in ("🔐 Please enter the new PIN once more", "✅ Your payment PIN is reset"):
            api.send_text(BEN, "135790")
            [reply] = await api.wait_for_message(BEN.id)
            assert reply["text"].startswith(answer)
            assert api.message(BEN.id, reply["message_id"] - 1) is None  # the PIN is gone
        assert len([d for d in api.deleted if d[0] == BEN.id]) == deleted_before + 2
