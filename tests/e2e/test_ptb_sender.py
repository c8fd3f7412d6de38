"""The python-telegram-bot Sender puts on the wire exactly what PTB's own methods would.

The Sender sends the conversation's messages and edits without turning Telegram's answer into a
PTB `Message`; these tests hold it to the very parameters `Bot.send_message` and
`Bot.edit_message_text` send, keyboards included, and to the sent message's id.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from telegram import Bot
from telegram.request import RequestData

from bot.ptb import Sender
from bot.ptb.replies import inline_markup, reply_markup
from domain.customers import TelegramProfile
from handlers.contract import (
    Button,
    ContactKeyboard,
    EventKind,
    Incoming,
    RemoveKeyboard,
    Reply,
)
from tests.fakes.ptb_request import LocalRequest

TOKEN = "123456:wire-test"
CHAT = 4242
MENU = (
    (Button("📱 My numbers", "ph"), Button("🌐 Language", "langs")),
    (Button("Open the campaign", url="https://example.com/c"),),
)
REPLIES = [
    Reply("Plain text"),
    Reply("A menu", MENU),
    Reply("Share your number", keyboard=ContactKeyboard("📱 Share")),
    Reply("Cancelled.", keyboard=RemoveKeyboard()),
    Reply("In a topic", MENU, chat_id=CHAT, thread_id=77),
]


class RecordingRequest(LocalRequest):
    """Answers every call like Telegram would and keeps each call's wire parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._ids = itertools.count(500)

    def answer(self, endpoint: str, request_data: RequestData | None) -> object:
        parameters = request_data.json_parameters if request_data is not None else {}
        self.calls.append((endpoint, parameters))
        result: object = True
        if endpoint == "getMe":
            result = {"id": 123456, "is_bot": True, "first_name": "Wire", "username": "wire_bot"}
        elif endpoint in ("sendMessage", "editMessageText"):
            result = {
                "message_id": int(parameters.get("message_id", next(self._ids))),
                "date": 1_700_000_000,
                "chat": {"id": int(parameters["chat_id"]), "type": "private"},
                "text": parameters["text"],
            }
        return result


@pytest.fixture
async def bot() -> Any:
    request = RecordingRequest()
    bot = Bot(TOKEN, request=request, get_updates_request=RecordingRequest())
    await bot.initialize()
    request.calls.clear()
    yield bot
    await bot.shutdown()


def recorded(bot: Bot) -> list[tuple[str, dict[str, str]]]:
    request = bot.request
    assert isinstance(request, RecordingRequest)
    calls = list(request.calls)
    request.calls.clear()
    return calls


@pytest.mark.parametrize("reply", REPLIES, ids=lambda reply: reply.text)
async def test_a_message_is_sent_as_ptb_would_send_it(bot: Bot, reply: Reply) -> None:
    await bot.send_message(
        CHAT, reply.text, reply_markup=reply_markup(reply), message_thread_id=reply.thread_id
    )
    expected = recorded(bot)

    delivery = await Sender(bot).send(CHAT, reply)

    assert recorded(bot) == expected
    assert delivery
    assert delivery.message_id == 501  # the id Telegram gave the second message


async def test_a_keyboard_shown_again_is_sent_the_same(bot: Bot) -> None:
    sender = Sender(bot)
    for _ in range(3):
        await sender.send(CHAT, Reply("A menu", MENU))
    calls = recorded(bot)
    assert len(calls) == 3
    assert calls[0] == calls[1] == calls[2]
    markup = inline_markup(MENU)
    assert markup is not None
    assert json.loads(calls[0][1]["reply_markup"]) == markup.to_dict()


@pytest.mark.parametrize("buttons", [MENU, ()], ids=["with buttons", "without buttons"])
async def test_a_pressed_buttons_message_is_edited_as_ptb_would_edit_it(
    bot: Bot, buttons: tuple[tuple[Button, ...], ...]
) -> None:
    await bot.edit_message_text("Edited", CHAT, 31, reply_markup=inline_markup(buttons))
    expected = recorded(bot)
    bob = TelegramProfile(telegram_id=CHAT, first_name="Bob")
    press = Incoming(EventKind.BUTTON, bob, CHAT, message_id=31, callback_id="q")

    await Sender(bot).reply(press, Reply("Edited", buttons, edit=True))

    assert recorded(bot) == expected
