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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scheduler.reminders import deliver_reminders, plan_reminders
from tests.bench.outbox_bench import (
    FIRST_TELEGRAM_ID,
    Heartbeat,
    bench_app,
    report,
    timed_planning,
    timed_sending,
)
from tests.reminder_setup import Clock, beijing, campaign_file, load_campaign, many_subscribers


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
    async with bench_app(clock, args.rate, args.seconds) as (api, app):
        ends = beijing(2026, 11, 11, 20, 0)
        campaign_id = await load_campaign(app, campaign_file(beijing(2026, 11, 1, 0, 0), ends))
        await many_subscribers(app, campaign_id, subscribers, clock.now, FIRST_TELEGRAM_ID)
        if not args.no_freeze:
            # As `python -m bot run` does once started: the objects of start-up (libraries,
            # the app) are never garbage, and a full collection no longer scans them.
            gc.collect()
            gc.freeze()

        planned = await timed_planning(heartbeat, plan_reminders(app.services))

        clock.now = beijing(2026, 11, 10, 20, 0)  # "24 hours left" is due for everyone
        sending = deliver_reminders(app.services, app.delivery)
        elapsed, sending_stall = await timed_sending(
            heartbeat, sending, asyncio.sleep(args.seconds)
        )
    report(
        planned,
        sending_stall,
        api,
        elapsed,
        args.rate,
        planned_what="reminders",
        sent_what="messages",
    )


if __name__ == "__main__":
    asyncio.run(main())
