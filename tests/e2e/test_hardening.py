"""What a flood, Telegram's flood control and forged or oversized webhook posts do to the running
bot, on both frameworks, over real HTTP against the fake Bot API server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiohttp
import pytest

from bot.aiogram import AiogramFrontend
from bot.assembly import App, build_app
from bot.ptb import PtbFrontend
from domain.languages import Language
from handlers.contract import Incoming, Outcome
from handlers.i18n import texts
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict, Mark
from tests.help_text import customer_help

pytestmark = pytest.mark.timeout(30)

EN = texts(Language.EN)
ZH = texts(Language.ZH_CN)
FRAMEWORKS = ["ptb", "aiogram"]
SECRET = "hook-Secret_7"
FLOODER = FakeUser(id=3001, first_name="Flood", language_code="en")
OTHERS = [FakeUser(id=3100 + n, first_name=f"Other{n}", language_code="zh-hans") for n in range(5)]


class Frontend(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@asynccontextmanager
async def running(
    api: FakeBotApi, database_url: str, framework: str, **settings: Any
) -> AsyncIterator[App]:
    app = await build_app(
        make_settings(
            database_url,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            bot_frontend=framework,
            **settings,
        )
    )
    frontend: Frontend = PtbFrontend(app) if framework == "ptb" else AiogramFrontend(app)
    try:
        await frontend.start()
        yield app
    finally:
        await frontend.stop()
        await app.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
        assert not server.internal_errors


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_settings() -> dict[str, Any]:
    port = free_port()
    return {
        "webhook_url": f"http://127.0.0.1:{port}/tg/hook",
        "webhook_secret": SECRET,
        "webhook_listen": f"127.0.0.1:{port}",
    }


def texts_to(api: FakeBotApi, chat_id: int) -> list[str]:
    return [message.get("text", "") for message in api.messages_to(chat_id)]


def slowed(app: App, gate: asyncio.Event) -> list[Incoming]:
    """Make the flooder's turns wait for `gate` (the others go straight through); the flooder's
    events that reached the conversation."""
    handle = app.conversation.handle
    reached: list[Incoming] = []

    async def slow(event: Incoming) -> Outcome:
        if event.chat_id == FLOODER.id:
            reached.append(event)
            await gate.wait()
        return await handle(event)

    app.conversation.handle = slow  # type: ignore[method-assign]
    return reached


async def others_answered(api: FakeBotApi) -> None:
    for user in OTHERS:
        [answer] = await api.wait_for_message(user.id, after=Mark(), timeout=5)
        assert answer["text"] == customer_help(Language.ZH_CN)


# -- one flooding chat --------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_flooding_chat_is_bounded_told_once_and_others_are_served(
    api: FakeBotApi, sqlite_url: str, framework: str
) -> None:
    gate = asyncio.Event()
    async with running(api, sqlite_url, framework, chat_queue_limit=3) as app:
        reached = slowed(app, gate)
        for n in range(150):
            api.send_text(FLOODER, f"/help {n}")
        for user in OTHERS:
            api.send_text(user, "/help")

        # While the flooder's first turn is still held up, everyone else is answered.
        await others_answered(api)
        slow_down = EN("flood.slow_down")
        await api.wait_for(lambda: slow_down in texts_to(api, FLOODER.id), what="told to slow")
        gate.set()
        await api.wait_for(lambda: not api.pending_updates, what="every update consumed")
        await asyncio.sleep(0.3)

    flooder_saw = texts_to(api, FLOODER.id)
    assert flooder_saw.count(slow_down) == 1  # one notice per flood, not one per drop
    # Only what the chat could hold was handled: its first turn and the few waiting.
    assert len(reached) <= 3 + 1
    assert flooder_saw.count(customer_help(Language.EN)) == len(reached)


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_flood_through_the_webhook_is_bounded_too(
    api: FakeBotApi, sqlite_url: str, framework: str
) -> None:
    gate = asyncio.Event()
    settings = webhook_settings()
    async with running(api, sqlite_url, framework, chat_queue_limit=3, **settings) as app:
        reached = slowed(app, gate)
        api.add_user(FLOODER)
        posts = [update_from(FLOODER, 10_000 + n, f"/help {n}") for n in range(40)]
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as http:

            async def post(update: JSONDict) -> int:
                async with http.post(settings["webhook_url"], json=update, headers=headers) as r:
                    return r.status

            # Telegram posts over many connections at once.
            flood = asyncio.gather(*(post(update) for update in posts))
            await api.wait_for(
                lambda: EN("flood.slow_down") in texts_to(api, FLOODER.id), what="told to slow"
            )
            for user in OTHERS:
                api.send_text(user, "/help")
            await others_answered(api)
            gate.set()
            statuses = await flood

    assert set(statuses) == {200}  # a dropped update is not redelivered by Telegram
    assert texts_to(api, FLOODER.id).count(EN("flood.slow_down")) == 1
    assert len(reached) <= 3 + 1


def update_from(user: FakeUser, update_id: int, text: str) -> JSONDict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": user.private_chat(),
            "from": user.to_api(),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


# -- aiogram polling fetches no more than it works off -----------------------------------------
async def test_aiogram_polling_leaves_what_it_cannot_work_off_with_telegram(
    api: FakeBotApi, sqlite_url: str
) -> None:
    gate = asyncio.Event()
    customers = [FakeUser(id=4000 + n, first_name=f"C{n}", language_code="en") for n in range(300)]
    async with running(api, sqlite_url, "aiogram", updates_in_flight=10) as app:
        handle = app.conversation.handle
        started: list[int] = []

        async def held(event: Incoming) -> Outcome:
            started.append(event.chat_id)
            await gate.wait()
            return await handle(event)

        app.conversation.handle = held  # type: ignore[method-assign]
        for customer in customers:
            api.send_text(customer, "/menu")  # answered from memory alone
        await api.wait_for(lambda: len(started) >= 10, what="ten in hand")
        await asyncio.sleep(0.5)  # time to fetch more, were it fetching

        # At most one batch (100) beyond those in hand was fetched; Telegram keeps the rest.
        assert len(started) == 10
        assert len(api.pending_updates) >= 300 - 100 - 10
        gate.set()
        # 300 turns on a loaded two-core machine: the bound is generous; the test is that all are.
        await api.wait_for(
            lambda: not api.pending_updates, timeout=60, what="every update consumed"
        )
        for customer in customers:
            await api.wait_for_message(customer.id, after=Mark(), timeout=10)


# -- Telegram's flood control (429) -----------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_replies_refused_by_flood_control_are_sent_in_order_later(
    sqlite_url: str, framework: str
) -> None:
    newcomers = [FakeUser(id=6000 + n, first_name=f"N{n}", language_code="en") for n in range(15)]
    async with FakeBotApi(enforce_limits=True, global_per_second=10) as api:
        async with running(api, sqlite_url, framework):
            for user in newcomers:
                api.send_text(user, "/start")
            for user in newcomers:
                welcome, menu = await api.wait_for_message(user.id, 2, after=Mark(), timeout=15)
                assert welcome["text"] == EN("start.welcome_new", name=user.first_name)
                assert menu["text"] == EN("menu.title")
        assert api.too_many_requests > 0
        assert not api.internal_errors


# -- webhook requests -------------------------------------------------------------------------
async def raw_post(url: str, head: dict[str, str], body: bytes, declared: int | None) -> int:
    """POST `body` (declaring `declared` bytes when given, else the body's length) and return
    the status, reading the answer without sending more than `body`."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host_port}", "Content-Type: application/json"]
        lines += [f"{name}: {value}" for name, value in head.items()]
        lines.append(f"Content-Length: {declared if declared is not None else len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=3)
        return int(status_line.split()[1])
    finally:
        writer.close()


Refused = Callable[[int], bool]


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_webhook_refuses_big_or_unsigned_bodies_before_reading_them(
    api: FakeBotApi, sqlite_url: str, framework: str
) -> None:
    settings = webhook_settings()
    url = settings["webhook_url"]
    signed = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with running(api, sqlite_url, framework, **settings):
        # 50 MB announced, a few bytes sent: the answer comes without waiting for the rest.
        assert await raw_post(url, signed, b'{"update_id": 1', 50_000_000) == 413
        assert await raw_post(url, {}, b'{"update_id": 1', 50_000_000) == 403
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        assert await raw_post(url, wrong, b'{"update_id": 1', 50_000_000) == 403

        async with aiohttp.ClientSession() as http:
            # A body sent in chunks, without a length, is cut off at the limit too.
            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(3 * 1024):
                    yield b" " * 1024

            async with http.post(url, data=chunks(), headers=signed) as response:
                assert response.status == 413
            # Malformed JSON with the right secret is the sender's mistake, not ours.
            for body in (b"{not json", b"[1, 2]", b'"text"'):
                async with http.post(url, data=body, headers=signed) as response:
                    assert response.status == 400
            # And a real update still goes through.
            api.send_text(OTHERS[0], "/help")
            [answer] = await api.wait_for_message(OTHERS[0].id, after=Mark())
    assert answer["text"] == customer_help(Language.ZH_CN)
    assert json.dumps(answer)  # a plain message
