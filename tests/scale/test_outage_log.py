"""What the log says while the database is away, on each front end, in webhook and in polling
mode: one WARNING line for each update it could not work (its update id and chat id, never the
phone, and "database unavailable"), no traceback above DEBUG, and a line when the database is
back. The database is reached through a TCP proxy the test cuts (as a stopped server)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from bot.assembly import App
from domain.languages import Language
from handlers.i18n import texts
from tests.bench.load_test import delete_webhook
from tests.e2e.test_aiogram_frontend import aiogram_bot
from tests.e2e.test_ptb_frontend import running_bot
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.help_text import customer_help
from tests.scale.conftest import needs_postgres
from tests.scale.tcp_proxy import TcpProxy
from tests.scale.workers import HEADERS, SECRET, free_port

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(60)]

ANNA = FakeUser(id=6201, first_name="Anna", language_code="en")
EN = texts(Language.EN)
HELP = customer_help(Language.EN)
UPDATES_DURING = 3


@asynccontextmanager
async def serving(
    api: FakeBotApi, database_url: str, framework: str, webhook_url: str | None, port: int
) -> AsyncIterator[App]:
    webhook = (
        {
            "webhook_url": webhook_url,
            "webhook_secret": SECRET,
            "webhook_listen": f"127.0.0.1:{port}",
        }
        if webhook_url
        else {}
    )
    start = running_bot if framework == "ptb" else aiogram_bot
    async with start(api, database_url, **webhook) as app:
        yield app


@pytest.mark.parametrize("mode", ["webhook", "polling"])
@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_an_outage_is_one_line_an_update_and_a_line_when_it_ends(
    framework: str, mode: str, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}/tg/hook" if mode == "webhook" else None
    async with (
        FakeBotApi() as api,
        TcpProxy.before(postgres_url) as database,
        aiohttp.ClientSession() as http,
        serving(api, database.url_for(postgres_url), framework, webhook_url, port),
    ):
        if webhook_url is not None:
            await delete_webhook(http, api)  # the test posts each update, once, as Telegram
        api.add_user(ANNA)

        def told(text: str) -> int:
            return [m.get("text") for m in api.messages_to(ANNA.id)].count(text)

        async def say(words: str, answer: str) -> int | None:
            """In webhook mode, the status of the bot's answer to the update; in polling mode
            None, once the customer was told `answer` once more."""
            before = told(answer)
            api.send_text(ANNA, words)
            update = api.updates[-1]
            if webhook_url is None:
                await api.wait_for(lambda: told(answer) > before, what=words)
                return None
            async with http.post(webhook_url, json=update, headers=HEADERS) as response:
                return response.status

        assert await say("/help", HELP) in (200, None)
        await database.cut()
        caplog.clear()
        during = []
        for _ in range(UPDATES_DURING):
            status = await say("/help", EN("error.internal"))
            during.append(api.updates[-1]["update_id"])
            # Webhook: refused, Telegram sends it again. Polling: the update was confirmed when
            # fetched, so the customer is told something went wrong.
            assert status == 503 if webhook_url else status is None
        outage = list(caplog.records)
        await database.restore()
        caplog.clear()
        status = await say("/help", HELP)
        assert status in (200, None)
        after = list(caplog.records)

    assert not [r for r in outage if r.exc_info and r.levelno > logging.DEBUG]
    for update_id in during:
        lines = [
            r
            for r in outage
            if r.levelno >= logging.WARNING and f"update {update_id} " in r.getMessage()
        ]
        assert len(lines) == 1, (update_id, during, "\n".join(r.getMessage()[:150] for r in outage))
        assert lines[0].levelno == logging.WARNING
        assert f"of chat {ANNA.id}" in lines[0].getMessage()
        assert "database unavailable" in lines[0].getMessage()
    assert [r for r in after if "the database is back after" in r.getMessage()]
