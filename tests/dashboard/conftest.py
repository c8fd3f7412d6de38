"""The dashboard served over real HTTP (aiohttp's test server) on each database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.assembly import App, build_app
from bot.dashboard.metrics import BotMetrics
from bot.dashboard.server import DashboardDeps, build_dashboard
from tests.conftest import make_settings
from tests.handlers.chat import Chat

STAFF_ID = 4242
CUSTOMER_ID = 1001
LINK = re.compile(r"http://\S+/signin\?token=(\S+)")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Site:
    app: App
    client: TestClient
    clock: Clock
    metrics: BotMetrics

    @property
    def origin(self) -> dict[str, str]:
        return {"Origin": str(self.client.make_url("")).rstrip("/")}

    async def link_token(self, telegram_id: int = STAFF_ID) -> str:
        """What a staff member gets by sending /dashboard to the bot: the link's token."""
        chat = Chat.of(self.app.conversation, telegram_id, "zh-hans")
        outcome = await chat.send("/dashboard")
        found = LINK.search(outcome.replies[-1].text)
        assert found, outcome.replies[-1].text
        return found.group(1)

    async def sign_in(self, telegram_id: int = STAFF_ID) -> None:
        token = await self.link_token(telegram_id)
        page = await self.client.get("/signin", params={"token": token})
        assert page.status == 200
        response = await self.client.post(
            "/signin", data={"token": token}, headers=self.origin, allow_redirects=False
        )
        assert response.status == 303, await response.text()


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[Site]:
    clock = Clock()
    settings = make_settings(
        database_url, demo_mode=True, admin_ids=str(STAFF_ID), dashboard_listen="127.0.0.1:8081"
    )
    app = await build_app(settings, clock=clock)
    metrics = app.metrics
    metrics.frontend = "console"
    app.conversation.observers.append(metrics.handled)
    deps = DashboardDeps(app.services, app.engine, metrics, clock=clock, refresh_seconds=0.2)
    client = TestClient(TestServer(build_dashboard(deps)))
    await client.start_server()
    try:
        yield Site(app, client, clock, metrics)
    finally:
        await client.close()
        await app.close()
