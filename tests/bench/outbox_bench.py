"""What the reminder and broadcast throughput benchmarks share: the app on SQLite wired to
the fake Bot API server enforcing Telegram's limits, planning and sending timed with a
heartbeat watching the event loop, and the figures printed against their targets."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot import aiogram as aiogram_frontend
from bot.assembly import App, build_app
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.heartbeat import Heartbeat
from tests.reminder_setup import Clock

FIRST_TELEGRAM_ID = 10_000_000


@asynccontextmanager
async def bench_app(
    clock: Clock, rate: int, seconds: float
) -> AsyncIterator[tuple[FakeBotApi, App]]:
    """The fake Bot API server at `rate` messages a second, with enough chats for `seconds`
    of sending from FIRST_TELEGRAM_ID on, and the app on a fresh SQLite database sending to it
    through the aiogram front end."""
    folder = tempfile.mkdtemp()
    chats = int(rate * seconds * 1.5)
    async with FakeBotApi(enforce_limits=True, global_per_second=rate) as api:
        for n in range(FIRST_TELEGRAM_ID, FIRST_TELEGRAM_ID + chats):
            api.add_user(FakeUser(n, "客户"))
        settings = make_settings(
            f"sqlite+aiosqlite:///{folder}/bench.db",
            bot_token=api.token,
            telegram_api_url=api.base_url,
            delivery_global_per_second=rate,
        )
        app = await build_app(settings, clock=clock)
        bot = aiogram_frontend.build_bot(settings)
        app.outbound.attach(aiogram_frontend.Sender(bot))
        try:
            await bot.get_me()  # the front end is up (its HTTP session made) before sweeps run
            yield api, app
        finally:
            await bot.session.close()
            await app.close()


@dataclass(frozen=True)
class Planned:
    """How many were planned, in how long, and the longest event-loop stall meanwhile."""

    count: int
    seconds: float
    stall: float


async def timed_planning(heartbeat: Heartbeat, planning: Awaitable[int]) -> Planned:
    """Run a planning sweep, timed, with the heartbeat watching the event loop."""
    heartbeat.start()
    started = time.perf_counter()
    planned = await planning
    seconds = time.perf_counter() - started
    return Planned(planned, seconds, heartbeat.stop())


async def timed_sending(
    heartbeat: Heartbeat, sending: Coroutine[Any, Any, int], meanwhile: Awaitable[None]
) -> tuple[float, float]:
    """Run a delivery sweep until `meanwhile` is done, then cancel it: how long it ran and the
    longest event-loop stall meanwhile."""
    heartbeat.start()
    task = asyncio.create_task(sending)
    first = time.perf_counter()
    await meanwhile
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    elapsed = time.perf_counter() - first
    return elapsed, heartbeat.stop()


def report(
    planned: Planned,
    sending_stall: float,
    api: FakeBotApi,
    elapsed: float,
    rate: int,
    *,
    planned_what: str,
    sent_what: str,
) -> None:
    """Planning, the longest stall and the delivery rate, each against its target."""
    delivered = sum(1 for call in api.calls if call.method == "sendMessage")
    per_second = delivered / elapsed
    share = per_second / rate
    print(
        f"planning  {planned.count} {planned_what} in {planned.seconds:.2f} s "
        f"({planned.count / planned.seconds:,.0f}/s; "
        f"{'meets' if planned.seconds <= 10 else 'MISSES'} target 10 s for 100,000)"
    )
    stall = max(planned.stall, sending_stall)
    print(
        f"stall     longest event-loop stall {stall * 1000:.1f} ms (planning "
        f"{planned.stall * 1000:.1f} ms, sending {sending_stall * 1000:.1f} ms; "
        f"{'meets' if stall <= 0.1 else 'MISSES'} target 100 ms)"
    )
    print(
        f"delivery  {delivered} {sent_what} in {elapsed:.2f} s = {per_second:.1f}/s of {rate}/s "
        f"configured ({share:.1%}), 429s: {api.too_many_requests} "
        f"({'meets' if share >= 0.95 and api.too_many_requests == 0 else 'MISSES'} target "
        f">= 95 % and no 429)"
    )
