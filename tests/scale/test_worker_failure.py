"""A webhook worker killed mid-turn (`kill -9`, real `python -m bot run` processes on
PostgreSQL): the update it held is answered by another worker when Telegram sends it again, its
chat is not left locked, and the next updates of the chat are served as usual."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from domain.languages import Language
from domain.persistence.database import create_engine
from tests.e2e.test_hardening import update_from
from tests.fakes.bot_api import FakeBotApi
from tests.help_text import customer_help
from tests.scale.conftest import needs_postgres
from tests.scale.processes import post, ready, real_worker
from tests.scale.workers import ANNA, HEADERS, until

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(120)]


async def test_an_update_whose_worker_was_killed_mid_turn_is_answered_by_another(
    api: FakeBotApi, postgres_url: str, tmp_path: Path
) -> None:
    api.add_user(ANNA)
    update = update_from(ANNA, 9500, "/help")
    async with (
        real_worker(api, postgres_url, tmp_path, "first") as first,
        real_worker(api, postgres_url, tmp_path, "second") as second,
        aiohttp.ClientSession() as http,
    ):
        await asyncio.gather(ready(first), ready(second))  # started side by side
        release = api.hold(ANNA.id)  # the first worker's turn stays under way, sending
        posted = asyncio.create_task(post(http, first.url, update))
        await until(
            lambda: str(ANNA.id) in {str(c.get("chat_id")) for c in api.calls_to("sendMessage")}
        )
        first.process.kill()  # kill -9, mid-turn: it holds the chat's lock and the update
        await first.process.wait()
        with pytest.raises(aiohttp.ClientError):
            await posted  # Telegram sees no answer and will send the update again
        release.set()

        started = time.monotonic()
        async with http.post(second.url, json=update, headers=HEADERS) as resent:
            assert resent.status == 200
        assert time.monotonic() - started < 9  # the dead worker's lock went with it (not 10 s)
        async with http.post(
            second.url, json=update_from(ANNA, 9501, "/help"), headers=HEADERS
        ) as later:
            assert later.status == 200

    answers = [m.get("text") for m in api.messages_to(ANNA.id)]
    # The killed worker's message may or may not have got through; the resend's did.
    assert answers.count(customer_help(Language.EN)) >= 2
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            done = (
                await connection.execute(
                    text("SELECT update_id FROM chat_updates WHERE done_at IS NOT NULL")
                )
            ).scalars()
            assert sorted(done) == [9500, 9501]
    finally:
        await engine.dispose()
