"""A webhook worker whose connections are all in use answers the customer "busy, try again" and
Telegram non-2xx (so the update is delivered again), never losing it: the resend, once a
connection is free, is answered as usual. On both frameworks, with the pool's timeout short."""

from __future__ import annotations

from contextlib import AsyncExitStack

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


@pytest.mark.parametrize(
    ("framework", "held"),
    [
        ("aiogram", 1),  # the chat's turn gets a connection, its work does not
        ("ptb", 1),
        ("aiogram", 2),  # not even the chat's turn gets one
    ],
)
async def test_no_connection_in_time_is_a_busy_answer_and_a_503_then_the_resend_is_answered(
    api: FakeBotApi, postgres_url: str, framework: str, held: int
) -> None:
    turns = Turns()
    update = update_from(ANNA, 9300, "/help")
    async with AsyncExitStack() as stack:
        bot = await stack.enter_async_context(
            worker(
                api,
                postgres_url,
                framework,
                turns,
                database_pool_size=2,
                database_max_overflow=0,
                database_pool_timeout_seconds=0.2,
            )
        )
        http = await stack.enter_async_context(aiohttp.ClientSession())
        async with AsyncExitStack() as busy:
            for _ in range(held):  # other customers' turns hold these connections
                await busy.enter_async_context(bot.app.engine.connect())
            assert await post(http, bot, update) == 503
        assert busy_answers(api) == 1
        assert help_answers(api) == 0
        assert await post(http, bot, update) == 200  # Telegram's resend

    assert help_answers(api) == 1
    assert busy_answers(api) == 1
