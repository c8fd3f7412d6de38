"""What the scale-out tests share: a PostgreSQL database of their own (they are about several
processes on one server; each module skips without TEST_POSTGRES_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bot.assembly import App, build_app
from tests.conftest import (
    POSTGRES_URL,
    make_settings,
)
from tests.fakes.bot_api import FakeBotApi
from tests.scale.workers import ANNA


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A migrated PostgreSQL database of this test's own."""
    return postgres_database


@asynccontextmanager
async def two_processes(database_url: str, **settings: object) -> AsyncIterator[tuple[App, App]]:
    """Two bots on one database, as two processes would be (each with its own engine)."""
    config = make_settings(database_url, **settings)
    first, second = await build_app(config), await build_app(config, migrate=False)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def needs_postgres() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        server.add_user(ANNA)
        yield server
        assert not server.internal_errors
