"""A webhook worker killed mid-turn (`kill -9`, real `python -m bot run` processes on
PostgreSQL): the update it held is answered by another worker when Telegram sends it again, its
chat is not left locked, and the next updates of the chat are served as usual."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from domain.languages import Language
from domain.persistence.database import create_engine
from tests.e2e.test_hardening import update_from
from tests.fakes.bot_api import FakeBotApi, JSONDict
from tests.help_text import customer_help
from tests.scale.conftest import needs_postgres
from tests.scale.workers import ANNA, HEADERS, SECRET, free_port, until

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RealWorker:
    process: asyncio.subprocess.Process
    url: str

    @property
    def base(self) -> str:
        return self.url.removesuffix("/tg/hook")


@asynccontextmanager
async def real_worker(
    api: FakeBotApi, database_url: str, workdir: Path, name: str
) -> AsyncIterator[RealWorker]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "BOT_FRONTEND": "aiogram",
        "DATABASE_URL": database_url,
        "WEBHOOK_URL": url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        "DASHBOARD_LISTEN": "",
        "DEMO_MODE": "true",
        "LOG_LEVEL": "WARNING",
    }
    log = (workdir / f"{name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=str(workdir), env=env, stdout=log, stderr=log
    )
    worker = RealWorker(process, url)
    try:
        yield worker
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
        log.close()


async def ready(worker: RealWorker) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(worker.base + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if worker.process.returncode is not None:
                raise AssertionError("the worker ended while starting")
            await asyncio.sleep(0.2)
    raise AssertionError("the worker never became ready")


def sends(api: FakeBotApi) -> list[JSONDict]:
    return api.calls_to("sendMessage")


async def post(http: aiohttp.ClientSession, url: str, update: JSONDict) -> int:
    async with http.post(url, json=update, headers=HEADERS) as response:
        return response.status


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
