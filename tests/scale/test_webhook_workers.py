"""Two webhook workers (two apps, each with its own engine and front end) on one PostgreSQL
database, over real HTTP against the fake Bot API server, on both frameworks: Telegram posts a
chat's updates to either of them, and the chat still takes its turns one at a time, in update-id
order, each update worked once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from bot.aiogram import AiogramFrontend
from bot.assembly import App, build_app
from bot.ptb import PtbFrontend
from domain.languages import Language
from handlers.contract import Incoming, Outcome
from handlers.i18n import texts
from tests.conftest import make_settings
from tests.e2e.test_hardening import Frontend, update_from
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict
from tests.scale.conftest import needs_postgres

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(30)]

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


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        server.add_user(ANNA)
        yield server
        assert not server.internal_errors


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
    return [m.get("text") for m in api.messages_to(ANNA.id)].count(EN("help.text"))


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_chat_posted_to_two_workers_takes_its_turns_in_update_id_order(
    api: FakeBotApi, postgres_url: str, framework: str
) -> None:
    turns = Turns(held_text="/help 0")
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(worker(api, postgres_url, framework, turns))
        second = await stack.enter_async_context(worker(api, postgres_url, framework, turns))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        posts = [asyncio.create_task(post(http, first, update_from(ANNA, 9000, "/help 0")))]
        await until(lambda: turns.log == ["start /help 0"])
        # The chat's later updates reach the two workers newest first, while its turn is held.
        for n, to in ((4, second), (3, first), (2, second), (1, first)):
            posts.append(
                asyncio.create_task(post(http, to, update_from(ANNA, 9000 + n, f"/help {n}")))
            )
            await recorded(first.app, 9000 + n)
        await asyncio.sleep(0.1)
        assert turns.started() == ["/help 0"]  # nobody else ran meanwhile
        turns.gate.set()
        statuses = await asyncio.gather(*posts)

    assert statuses == [200] * 5
    assert turns.started() == [f"/help {n}" for n in range(5)]
    turns.never_overlapped()
    assert help_answers(api) == 5


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_an_update_posted_to_both_workers_is_worked_once(
    api: FakeBotApi, postgres_url: str, framework: str
) -> None:
    turns = Turns()
    update = update_from(ANNA, 9100, "/help once")
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(worker(api, postgres_url, framework, turns))
        second = await stack.enter_async_context(worker(api, postgres_url, framework, turns))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        statuses = await asyncio.gather(post(http, first, update), post(http, second, update))
        again = await post(http, second, update)

    assert statuses == [200, 200] and again == 200
    assert turns.started() == ["/help once"]
    assert help_answers(api) == 1


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_worker_that_cannot_have_the_turn_in_time_answers_503_and_works_the_resend(
    api: FakeBotApi, postgres_url: str, framework: str
) -> None:
    turns = Turns(held_text="/help held")
    late = update_from(ANNA, 9201, "/help late")
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(worker(api, postgres_url, framework, turns))
        impatient = await stack.enter_async_context(
            worker(api, postgres_url, framework, turns, chat_turn_wait_seconds=0.3)
        )
        http = await stack.enter_async_context(aiohttp.ClientSession())
        held = asyncio.create_task(post(http, first, update_from(ANNA, 9200, "/help held")))
        await until(lambda: turns.log == ["start /help held"])
        assert await post(http, impatient, late) == 503  # Telegram will send it again
        turns.gate.set()
        assert await held == 200
        assert await post(http, impatient, late) == 200  # the resend

    assert turns.started() == ["/help held", "/help late"]
    assert help_answers(api) == 2
