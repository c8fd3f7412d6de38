"""Real `python -m bot run` webhook workers (aiogram) for the scale-out tests, started and stopped
by the test, each on a port of its own with its output in a log file of the test's directory."""

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

from tests.fakes.bot_api import FakeBotApi, JSONDict
from tests.scale.workers import HEADERS, SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RealWorker:
    process: asyncio.subprocess.Process
    url: str
    log: Path

    @property
    def base(self) -> str:
        return self.url.removesuffix("/tg/hook")


@asynccontextmanager
async def real_worker(
    api: FakeBotApi, database_url: str, workdir: Path, name: str, **env: str
) -> AsyncIterator[RealWorker]:
    """A worker process on `database_url`; `env` adds to (or overrides) its environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    environment = {
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
        **env,
    }
    log = workdir / f"{name}.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=str(workdir),
            env=environment,
            stdout=output,
            stderr=output,
        )
        try:
            yield RealWorker(process, url, log)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def ready(worker: RealWorker, within: float = 60.0) -> None:
    """Wait until the worker answers its readiness check 200 (at most `within` seconds: a
    worker's start-up is mostly imports, about 4.5 s of CPU, most of it aiogram's types, and
    two starting together on a busy 2-core machine have taken over 30 s)."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(worker.base + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if worker.process.returncode is not None:
                raise AssertionError(f"the worker ended: {worker.log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)
    raise AssertionError(f"the worker was not ready in time: {worker.log.read_text()[-2000:]}")


async def post(
    http: aiohttp.ClientSession, url: str, update: JSONDict, headers: dict[str, str] = HEADERS
) -> int:
    """Post `update` to a worker as Telegram does; the HTTP status of its answer."""
    async with http.post(url, json=update, headers=headers) as response:
        return response.status
