"""With LOG_FORMAT=json every line a chat turn writes is one JSON object naming the update, the
chat and, once the turn works on an order, the order number; never the customer's phone."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.assembly import App
from bot.log_format import JsonLines
from bot.log_redaction import Redactor
from handlers.chat_queues import ChatQueues
from tests.handlers.chat import Chat

NUMBER = "18612345678"
LOGGERS = ("bot", "domain", "handlers", "sqlalchemy.engine")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(Redactor([]))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class Turns:
    """As a front end hands each update to the shared turn handling."""

    def __init__(self, chat: Chat) -> None:
        self.chat, self.queues, self.update_id = chat, ChatQueues(), 500

    async def send(self, text: str) -> None:
        await self._turn(lambda: self.chat.send(text))

    async def press(self, label: str) -> None:
        await self._turn(lambda: self.chat.press(label))

    async def _turn(self, act: Any) -> None:
        self.update_id += 1
        admission = self.queues.admit(self.chat.chat_id)
        try:
            async with self.queues.turn(admission, self.update_id) as fresh:
                assert fresh
                await act()
        finally:
            self.queues.leave(admission)


async def test_a_turns_lines_name_update_chat_and_order_and_never_the_phone(
    app: App, lines: io.StringIO
) -> None:
    chat = Chat.of(app.conversation, 7301)
    turns = Turns(chat)
    logging.getLogger("bot.startup").info("before any turn")
    await turns.send(f"/bind {NUMBER}")
    await turns.send("/recharge")
    await turns.press("100元")
    order_number = chat.texts[0].split("订单号：")[1].split("\n")[0]
    await turns.press("模拟支付")
    assert f"订单号：{order_number}" in chat.texts[0]

    text = lines.getvalue()
    assert NUMBER not in text
    records = [json.loads(line) for line in text.splitlines()]
    outside, *in_turns = records
    assert outside["message"] == "before any turn" and "chat_id" not in outside
    assert {"time", "level", "logger", "message"} <= outside.keys()
    assert in_turns and all(r["chat_id"] == 7301 for r in in_turns)
    assert {r["update_id"] for r in in_turns} == {501, 502, 503, 504}
    assert any("186****5678" in r["message"] for r in in_turns)  # the number, masked
    # Once the turn has read or written its order, every later line of it names the order.
    for update_id in (503, 504):
        turn = [r.get("order") for r in in_turns if r["update_id"] == update_id]
        first = turn.index(order_number)
        assert turn[first:] == [order_number] * (len(turn) - first)
    assert all("order" not in r for r in in_turns if r["update_id"] in (501, 502))
