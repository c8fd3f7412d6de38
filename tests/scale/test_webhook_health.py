"""The webhook port answers the load balancer's health checks (/healthz, /readyz), readiness
follows the database (gone and back, without a restart), and every worker checks the secret."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from tests.e2e.test_hardening import update_from
from tests.fakes.bot_api import FakeBotApi
from tests.scale.conftest import needs_postgres
from tests.scale.tcp_proxy import TcpProxy
from tests.scale.workers import (
    ANNA,
    FRAMEWORKS,
    HEADERS,
    Turns,
    help_answers,
    post,
    until,
    worker,
)

pytestmark = pytest.mark.timeout(30)


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()


def base(hook_url: str) -> str:
    return hook_url.removesuffix("/tg/hook")


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_the_webhook_port_answers_health_and_readiness(
    api: FakeBotApi, sqlite_url: str, framework: str
) -> None:
    async with (
        worker(api, sqlite_url, framework, Turns()) as running,
        aiohttp.ClientSession() as http,
    ):
        # No secret: the load balancer asks, and nothing private is told.
        assert await get(http, base(running.url) + "/healthz") == (200, {"status": "ok"})
        assert await get(http, base(running.url) + "/readyz") == (
            200,
            {
                "status": "ready",
                "checks": {"frontend": True, "database": True, "migrations": True},
            },
        )


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_worker_on_a_database_at_another_migration_is_not_ready(
    api: FakeBotApi, sqlite_url: str, framework: str
) -> None:
    """Code newer or older than the schema it finds (a deployment half done) is taken out of
    the load balancer until the migration matches."""
    async with (
        worker(api, sqlite_url, framework, Turns()) as running,
        aiohttp.ClientSession() as http,
    ):
        ready = base(running.url) + "/readyz"
        async with running.app.engine.begin() as connection:
            head = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one()
            await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        status, body = await get(http, ready)
        assert status == 503
        assert body["checks"] == {"frontend": True, "database": True, "migrations": False}
        async with running.app.engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
        assert (await get(http, ready))[0] == 200


@needs_postgres()
@pytest.mark.postgres
async def test_readiness_follows_the_database_and_the_worker_recovers_by_itself(
    api: FakeBotApi, postgres_url: str
) -> None:
    async with TcpProxy.before(postgres_url) as database, AsyncExitStack() as stack:
        url = database.url_for(postgres_url)
        running = await stack.enter_async_context(worker(api, url, "aiogram", Turns()))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        ready = base(running.url) + "/readyz"
        assert (await get(http, ready))[0] == 200

        await database.cut()  # the database server goes away
        status, body = await get(http, ready)
        assert status == 503
        assert body["checks"] == {"frontend": True, "database": False, "migrations": False}
        assert (await get(http, base(running.url) + "/healthz"))[0] == 200  # still alive
        # An update meanwhile is refused with a non-2xx answer: Telegram sends it again.
        update = update_from(ANNA, 9300, "/help")
        assert await post(http, running, update) >= 500

        await database.restore()  # back, and the worker without a restart
        deadline = time.monotonic() + 10
        while (await get(http, ready))[0] != 200:
            assert time.monotonic() < deadline, "not ready again once the database was back"
            await asyncio.sleep(0.05)
        assert await post(http, running, update) == 200  # Telegram's resend
        await until(lambda: help_answers(api) == 1)


@needs_postgres()
@pytest.mark.postgres
@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_every_worker_refuses_a_post_without_the_secret(
    api: FakeBotApi, postgres_url: str, framework: str
) -> None:
    turns = Turns()
    update = update_from(ANNA, 9400, "/help")
    async with AsyncExitStack() as stack:
        workers = [
            await stack.enter_async_context(worker(api, postgres_url, framework, turns))
            for _ in range(2)
        ]
        http = await stack.enter_async_context(aiohttp.ClientSession())
        for each in workers:
            for headers in ({}, {HEADERS_NAME: "guess"}, {HEADERS_NAME: ""}):
                async with http.post(each.url, json=update, headers=headers) as response:
                    assert response.status == 403
        await asyncio.sleep(0.1)
        assert turns.log == []  # nothing reached the conversation
        assert await post(http, workers[1], update) == 200  # with the secret it is served
    assert turns.started() == ["/help"]


HEADERS_NAME = next(iter(HEADERS))
