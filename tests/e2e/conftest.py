"""What the end-to-end tests share: the fake Bot API server, and each front end run against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from bot.assembly import App
from tests.e2e.test_aiogram_frontend import aiogram_bot
from tests.e2e.test_ptb_frontend import running_bot
from tests.fakes.bot_api import FakeBotApi

# A front end started against the fake server: runner(api, database_url, **settings).
Runner = Callable[..., AbstractAsyncContextManager[App]]


@pytest.fixture(params=["ptb", "aiogram"])
def runner(request: pytest.FixtureRequest) -> Runner:
    return running_bot if request.param == "ptb" else aiogram_bot


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
        assert not server.internal_errors
