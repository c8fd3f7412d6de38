"""Every logger at DEBUG (the libraries' own too: httpx, aiogram, telegram, SQLAlchemy's engine
with its parameters), a customer binds a typed number and a shared contact, sets a payment PIN,
recharges the typed number (the PIN asked, paid in Telegram with a provider token set) and files
a complaint, through each real front end over the fake Bot API: no full phone number, no PIN, no
payment token and no bot token appears in any line, at any level, as text or as JSON lines
(`LOG_FORMAT=json`, written side by side from the same run); and each JSON line of a turn names
the update and the chat."""

from __future__ import annotations

import inspect
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from bot.log_format import JsonLines
from bot.log_redaction import Redactor, install_redaction, settings_secrets
from tests.conftest import make_settings
from tests.e2e.test_hardening import running
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict

pytestmark = pytest.mark.timeout(60)

TOKEN = "7123456789:AAH9x_scanMe-0123456789abcdefghijklm"
PROVIDER_TOKEN = "284685063:TEST:ProviderSecret42"
TYPED, SHARED = "18612345678", "13912345670"
PIN = "864209"
CUSTOMER = FakeUser(id=7002, first_name="王", language_code="zh-hans")
LOUD = ("httpx", "httpcore", "aiogram", "telegram", "sqlalchemy.engine", "sqlalchemy.pool")


@dataclass
class Captured:
    text: io.StringIO
    json: io.StringIO


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Every record of every logger, at DEBUG, through two handlers on the root logger: one
    writes text lines, the other JSON lines."""
    root = logging.getLogger()
    streams = Captured(io.StringIO(), io.StringIO())
    as_text = logging.StreamHandler(streams.text)
    as_text.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    as_json = logging.StreamHandler(streams.json)
    as_json.setFormatter(JsonLines())
    names = {*LOUD, *logging.root.manager.loggerDict}
    levels = {name: logging.getLogger(name).level for name in names}
    root_level = root.level
    root.addHandler(as_text)
    root.addHandler(as_json)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield streams
    finally:
        root.removeHandler(as_text)
        root.removeHandler(as_json)
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for other in root.handlers:
            for existing in [f for f in other.filters if isinstance(f, Redactor)]:
                other.removeFilter(existing)


def _labels(message: JSONDict) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["text"] for row in rows for b in row]


async def _act(api: FakeBotApi, user: FakeUser, act: Callable[[], object], then: str) -> JSONDict:
    """Do `act`; the first message the bot then sends, or edits, in the user's chat whose text
    or buttons hold `then`."""
    before, edits = len(api.messages_to(user.id)), len(api.edits)
    done = act()
    if inspect.isawaitable(done):
        await done

    def found() -> JSONDict | None:
        edited = [e["message"] for e in api.edits[edits:] if e["chat_id"] == user.id]
        for message in [*api.messages_to(user.id)[before:], *edited]:
            words = [message.get("text", ""), message.get("caption", ""), *_labels(message)]
            if any(then in word for word in words):
                return message
        return None

    return await api.wait_for(found, what=repr(then))


async def _say(api: FakeBotApi, user: FakeUser, text: str, then: str) -> JSONDict:
    return await _act(api, user, lambda: api.send_text(user, text), then)


async def _press(
    api: FakeBotApi, user: FakeUser, message: JSONDict, part: str, then: str
) -> JSONDict:
    label = next(text for text in _labels(message) if part in text)
    return await _act(api, user, lambda: api.press_button(user, message, text=label), then)


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
async def test_no_number_pin_or_token_in_any_log_line(
    captured: Captured, sqlite_url: str, framework: str
) -> None:
    secrets = {"payment_provider_token": PROVIDER_TOKEN, "sandbox_topup_delay_seconds": 0}
    async with FakeBotApi(token=TOKEN) as api:
        api.add_user(CUSTOMER)
        settings = make_settings(
            sqlite_url,
            bot_token=TOKEN,
            telegram_api_url=api.base_url,
            demo_mode=True,
            **secrets,
        )
        install_redaction(settings_secrets(settings))
        async with running(api, sqlite_url, framework, demo_mode=True, **secrets):
            await _say(api, CUSTOMER, f"/bind {TYPED}", "186****5678")
            await _act(
                api, CUSTOMER, lambda: api.share_contact(CUSTOMER, f"+86 {SHARED}"), "139****5670"
            )
            await _say(api, CUSTOMER, "/pin", "🔐")
            await _say(api, CUSTOMER, PIN, "🔐")
            await _say(api, CUSTOMER, PIN, "✅")

            grid = await _say(api, CUSTOMER, "/recharge", "186****5678")
            if not any("100" in label for label in _labels(grid)):
                grid = await _press(api, CUSTOMER, grid, "186****5678", "100")
            confirmation = await _press(api, CUSTOMER, grid, "100", "Telegram")
            await _press(api, CUSTOMER, confirmation, "Telegram", "支付密码")
            before = len(api.messages_to(CUSTOMER.id))
            api.send_text(CUSTOMER, PIN)

            def invoice() -> JSONDict | None:
                sent = api.messages_to(CUSTOMER.id)[before:]
                return next((m for m in sent if "invoice" in m), None)

            paying = await api.wait_for(invoice, what="the invoice")
            receipt = await _act(api, CUSTOMER, lambda: api.pay_invoice(CUSTOMER, paying), "✅")
            assert "186****5678" in receipt["text"]

            welcome = await _say(api, CUSTOMER, "/feedback", "投诉")
            categories = await _press(api, CUSTOMER, welcome, "投诉", "其他")
            await _press(api, CUSTOMER, categories, "其他", "")
            complaint = f"号码 {TYPED} 被扣了两次款"
            await _say(api, CUSTOMER, complaint, "#")

    as_json = [json.loads(line) for line in captured.json.getvalue().splitlines()]
    in_turns = [r for r in as_json if "chat_id" in r]
    assert in_turns and {r["chat_id"] for r in in_turns} == {CUSTOMER.id}
    assert all(isinstance(r["update_id"], int) for r in in_turns)
    assert any(r.get("order", "").startswith("R") for r in in_turns)
    for log in (captured.text.getvalue(), captured.json.getvalue()):
        _nothing_private(log, framework)


def _nothing_private(log: str, framework: str) -> None:
    # The libraries did write (PTB dumps every call at DEBUG; aiogram tells each update).
    assert ("sendInvoice" in log) if framework == "ptb" else ("aiogram.event" in log)
    assert "SELECT" in log  # and the database engine, with its parameters
    for secret in (TOKEN, TOKEN.split(":", 1)[1], PROVIDER_TOKEN, "ProviderSecret42"):
        assert secret not in log
    for number in (TYPED, SHARED, f"+86 {SHARED}", "+8613912345670"):
        assert number not in log
    lines_with_pin = [line for line in log.splitlines() if PIN in line]
    assert lines_with_pin == [], "\n".join(line[:160] for line in lines_with_pin)


def test_the_words_of_a_dumped_message_are_left_out() -> None:
    redactor = Redactor([])
    dumped = (
        "{'text': '864209', 'chat': {'id': 7002}} "
        '{"caption": "it\\"s 864209"} '
        'Message(text="it\'s 864209", message_id=9)'
    )
    assert redactor.redact(dumped) == (
        "{'text': '[text]', 'chat': {'id': 7002}} "
        '{"caption": "[text]"} '
        'Message(text="[text]", message_id=9)'
    )
