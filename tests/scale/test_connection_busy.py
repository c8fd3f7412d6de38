"""A webhook worker whose connections are all in use answers the customer "busy, try again" and
Telegram non-2xx (so the update is delivered again), never losing it: the resend, once a
connection is free, is answered as usual. On both frameworks, with the pool's timeout short."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from domain.languages import Language
from handlers.i18n import texts
from tests.e2e.test_hardening import update_from
from tests.fakes.bot_api import FakeBotApi
from tests.scale.conftest import needs_postgres
from tests.scale.workers import ANNA, Turns, help_answers, post, worker

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(30)]

BUSY = texts(Language.EN)("busy.try_again")


def busy_answers(api: FakeBotApi) -> int:
    return [m.get("text") for m in api.messages_to(ANNA.id)].count(BUSY)


def pool_of_two(api: FakeBotApi, postgres_url: str, framework: str, turns: Turns) -> Any:
    return worker(
        api,
        postgres_url,
        framework,
        turns,
        database_pool_size=2,
        database_max_overflow=0,
        database_pool_timeout_seconds=0.2,
    )


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_no_connection_in_time_is_a_busy_answer_and_a_503_then_the_resend_is_answered(
    api: FakeBotApi, postgres_url: str, framework: str
) -> None:
    turns = Turns()
    update = update_from(ANNA, 9300, "/help")
    async with AsyncExitStack() as stack:
        bot = await stack.enter_async_context(pool_of_two(api, postgres_url, framework, turns))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        async with AsyncExitStack() as busy:
            for _ in range(2):  # other customers' turns hold these connections
                await busy.enter_async_context(bot.app.engine.connect())
            assert await post(http, bot, update) == 503
        assert busy_answers(api) == 1
        assert help_answers(api) == 0
        assert await post(http, bot, update) == 200  # Telegram's resend

    assert help_answers(api) == 1
    assert busy_answers(api) == 1


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_a_turn_does_its_work_on_the_connection_that_holds_its_chat(
    api: FakeBotApi, postgres_url: str, framework: str
) -> None:
    """One connection free is enough for a whole turn: its units of work (the customer's row,
    the conversation) run on the connection that holds the chat's lock, not on a second one."""
    turns = Turns()
    async with AsyncExitStack() as stack:
        bot = await stack.enter_async_context(pool_of_two(api, postgres_url, framework, turns))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        await stack.enter_async_context(bot.app.engine.connect())  # another customer's turn
        assert await post(http, bot, update_from(ANNA, 9400, "/start")) == 200
        assert await post(http, bot, update_from(ANNA, 9401, "/help")) == 200

    assert help_answers(api) == 1
    assert busy_answers(api) == 0
