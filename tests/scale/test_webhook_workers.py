"""Two webhook workers (two apps, each with its own engine and front end) on one PostgreSQL
database, over real HTTP against the fake Bot API server, on both frameworks: Telegram posts a
chat's updates to either of them, and the chat still takes its turns one at a time, in update-id
order, each update worked once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import aiohttp
import pytest

from tests.e2e.test_hardening import update_from
from tests.fakes.bot_api import FakeBotApi
from tests.scale.conftest import needs_postgres
from tests.scale.workers import ANNA, FRAMEWORKS, Turns, help_answers, post, recorded, until, worker

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(30)]


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
