"""Benchmark: planning 100,000 reminders, the longest event-loop stall meanwhile, and delivery
to the fake Bot API server enforcing Telegram's limits.

    .venv/bin/python tests/bench/reminder_throughput.py [--reminders 100000] [--seconds 10]

Targets: 100,000 reminders planned in at most 10 s on SQLite; no event-loop stall over 100 ms
(a heartbeat task ticking every 5 ms) while planning and sending; delivery at 95 % or more of
the configured rate (DELIVERY_GLOBAL_PER_SECOND, 30/s) with no 429 from the server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot import aiogram as aiogram_frontend
from bot.assembly import build_app
from scheduler.reminders import deliver_reminders, plan_reminders
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.reminder_setup import Clock, beijing, campaign_file, load_campaign, many_subscribers

FIRST_TELEGRAM_ID = 10_000_000


class Heartbeat:
    """Ticks every 5 ms; `longest` is the longest it was kept waiting beyond that."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.longest = max(self.longest, time.perf_counter() - before - 0.005)

    def start(self) -> None:
        self.longest = 0.0
        self._task = asyncio.get_running_loop().create_task(self._beat())

    def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        return self.longest


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to deliver")
    parser.add_argument("--rate", type=int, default=30, help="DELIVERY_GLOBAL_PER_SECOND")
    parser.add_argument("--no-freeze", action="store_true", help="skip gc.freeze() after set-up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    subscribers = -(-args.reminders // 3)  # three countdown reminders each
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    heartbeat = Heartbeat()
    folder = tempfile.mkdtemp()
    chats = int(args.rate * args.seconds * 1.5)
    async with FakeBotApi(enforce_limits=True, global_per_second=args.rate) as api:
        for n in range(FIRST_TELEGRAM_ID, FIRST_TELEGRAM_ID + chats):
            api.add_user(FakeUser(n, "客户"))
        settings = make_settings(
            f"sqlite+aiosqlite:///{folder}/bench.db",
            bot_token=api.token,
            telegram_api_url=api.base_url,
            delivery_global_per_second=args.rate,
        )
        app = await build_app(settings, clock=clock)
        bot = aiogram_frontend.build_bot(settings)
        app.outbound.attach(aiogram_frontend.Sender(bot))
        try:
            await bot.get_me()  # the front end is up (its HTTP session made) before sweeps run
            ends = beijing(2026, 11, 11, 20, 0)
            campaign_id = await load_campaign(app, campaign_file(beijing(2026, 11, 1, 0, 0), ends))
            await many_subscribers(app, campaign_id, subscribers, clock.now, FIRST_TELEGRAM_ID)
            if not args.no_freeze:
                # As `python -m bot run` does once started: the objects of start-up (libraries,
                # the app) are never garbage, and a full collection no longer scans them.
                gc.collect()
                gc.freeze()

            heartbeat.start()
            started = time.perf_counter()
            planned = await plan_reminders(app.services)
            planning = time.perf_counter() - started
            planning_stall = heartbeat.stop()

            clock.now = beijing(2026, 11, 10, 20, 0)  # "24 hours left" is due for everyone
            heartbeat.start()
            sending = asyncio.create_task(deliver_reminders(app.services, app.delivery))
            first = time.perf_counter()
            await asyncio.sleep(args.seconds)
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            elapsed = time.perf_counter() - first
            sending_stall = heartbeat.stop()
            delivered = sum(1 for call in api.calls if call.method == "sendMessage")
        finally:
            await bot.session.close()
            await app.close()
    rate = delivered / elapsed
    share = rate / args.rate
    print(
        f"planning  {planned} reminders in {planning:.2f} s "
        f"({planned / planning:,.0f}/s; {'meets' if planning <= 10 else 'MISSES'} target 10 s "
        f"for 100,000)"
    )
    stall = max(planning_stall, sending_stall)
    print(
        f"stall     longest event-loop stall {stall * 1000:.1f} ms (planning "
        f"{planning_stall * 1000:.1f} ms, sending {sending_stall * 1000:.1f} ms; "
        f"{'meets' if stall <= 0.1 else 'MISSES'} target 100 ms)"
    )
    print(
        f"delivery  {delivered} messages in {elapsed:.2f} s = {rate:.1f}/s of {args.rate}/s "
        f"configured ({share:.1%}), 429s: {api.too_many_requests} "
        f"({'meets' if share >= 0.95 and api.too_many_requests == 0 else 'MISSES'} target "
        f">= 95 % and no 429)"
    )


if __name__ == "__main__":
    asyncio.run(main())
