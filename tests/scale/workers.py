"""Webhook workers for the scale-out tests: each an app with its own engine and front end,
serving the fake Bot API; and what the tests watch of them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy import text

from bot.aiogram import AiogramFrontend
from bot.assembly import App, build_app
from bot.ptb import PtbFrontend
from domain.languages import Language
from handlers.contract import Incoming, Outcome
from handlers.i18n import texts
from tests.conftest import make_settings
from tests.e2e.test_hardening import Frontend
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict
from tests.help_text import customer_help

EN = texts(Language.EN)
SECRET = "hook-Secret_7"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
FRAMEWORKS = ["aiogram", "ptb"]
ANNA = FakeUser(id=5001, first_name="Anna", language_code="en")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Turns:
    """What the conversation was given, in order, over both workers; a gate to hold a turn."""

    log: list[str] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    held_text: str | None = None

    def watch(self, app: App) -> None:
        handle = app.conversation.handle

        async def watched(event: Incoming) -> Outcome:
            self.log.append(f"start {event.text}")
            if event.text == self.held_text:
                await self.gate.wait()
            await asyncio.sleep(0.01)
            try:
                return await handle(event)
            finally:
                self.log.append(f"end {event.text}")

        app.conversation.handle = watched  # type: ignore[method-assign]

    def started(self) -> list[str]:
        return [entry.removeprefix("start ") for entry in self.log if entry.startswith("start")]

    def never_overlapped(self) -> None:
        running: str | None = None
        for entry in self.log:
            what, _, what_text = entry.partition(" ")
            if what == "start":
                assert running is None, f"{what_text} started while {running} ran: {self.log}"
                running = what_text
            else:
                running = None


@dataclass
class Worker:
    app: App
    url: str


@asynccontextmanager
async def worker(
    api: FakeBotApi, database_url: str, framework: str, turns: Turns, **settings: Any
) -> AsyncIterator[Worker]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    app = await build_app(
        make_settings(
            database_url,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            bot_frontend=framework,
            webhook_url=url,
            webhook_secret=SECRET,
            webhook_listen=f"127.0.0.1:{port}",
            **settings,
        )
    )
    turns.watch(app)
    frontend: Frontend = PtbFrontend(app) if framework == "ptb" else AiogramFrontend(app)
    try:
        await frontend.start()
        yield Worker(app, url)
    finally:
        await frontend.stop()
        await app.close()


async def post(http: aiohttp.ClientSession, to: Worker, update: JSONDict) -> int:
    async with http.post(to.url, json=update, headers=HEADERS) as response:
        return response.status


async def recorded(app: App, update_id: int) -> None:
    """Wait until the update is recorded as arrived (it waits for its chat's turn)."""
    for _ in range(500):
        async with app.engine.connect() as connection:
            found = await connection.execute(
                text("SELECT 1 FROM chat_updates WHERE update_id = :u"), {"u": update_id}
            )
            if found.first() is not None:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"update {update_id} never arrived")


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def help_answers(api: FakeBotApi) -> int:
    return [m.get("text") for m in api.messages_to(ANNA.id)].count(customer_help(Language.EN))
