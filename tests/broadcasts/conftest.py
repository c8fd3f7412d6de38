"""Fixtures of the broadcast tests: a fake clock the day before Double 11 ends, and a world on it
(SQLite, and PostgreSQL when it is set up)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App
from tests.broadcasts.setup import world_on
from tests.reminder_setup import Clock, beijing


@pytest.fixture
def clock() -> Clock:
    return Clock(beijing(2026, 11, 10, 12, 0))


@pytest.fixture
async def world(database_url: str, clock: Clock) -> AsyncIterator[App]:
    async with world_on(database_url, clock) as app:
        yield app
