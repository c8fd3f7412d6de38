"""What a chat turn with its work costs on PostgreSQL, in-process: `/offers`, `/help` and
`/points` of 100 known customers through the conversation router, each inside a chat turn
shared across processes (`PostgresChatTurns`, 10 places), 100 at once. Prints, per round, the
CPU this process spends per turn, turns/s and the pool checkouts per turn.

    TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tests/bench/turn_work.py [--units-on-the-pool]

A turn's units of work run on the connection that holds its chat's lock
(`domain/persistence/turn_connection.py`); `--units-on-the-pool` runs the same turns with that
lending left out, so that each unit takes a connection of its own from the pool (how turns ran
before), for comparison in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from contextlib import nullcontext
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import domain.persistence.chat_turns as chat_turns
from bot.assembly import build_app
from domain.persistence.chat_turns import PostgresChatTurns
from tests.bench.scale_out import drop_database, fresh_database
from tests.conftest import make_settings
from tests.handlers.chat import Chat

CUSTOMERS = 100
FIRST_CHAT = 7_000_000
ROUNDS = 3
COMMANDS = ("/offers", "/help", "/points")


async def measure(url: str) -> None:
    app = await build_app(make_settings(url))
    checkouts = 0

    def checked_out(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(app.engine.sync_engine.pool, "checkout", checked_out)
    try:
        turns = PostgresChatTurns(app.engine, concurrent=10)
        chats = [Chat.of(app.conversation, FIRST_CHAT + n) for n in range(CUSTOMERS)]
        lanes = [asyncio.Lock() for _ in chats]
        update_ids = count(1)

        async def turn(n: int, words: str) -> None:
            async with turns.turn(FIRST_CHAT + n, next(update_ids), lanes[n]):
                await chats[n].send(words)

        await asyncio.gather(*(turn(n, "/start") for n in range(CUSTOMERS)))
        for round_ in range(ROUNDS + 1):  # the first warms the caches and the pool
            gc.collect()
            checkouts = 0
            cpu, wall = time.process_time(), time.perf_counter()
            for words in COMMANDS:
                await asyncio.gather(*(turn(n, words) for n in range(CUSTOMERS)))
            taken = len(COMMANDS) * CUSTOMERS
            if round_:
                print(
                    f"round {round_}: {(time.process_time() - cpu) / taken * 1e6:.0f} µs CPU a"
                    f" turn, {taken / (time.perf_counter() - wall):.0f} turns/s,"
                    f" {checkouts / taken:.2f} pool checkouts a turn"
                )
    finally:
        await app.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units-on-the-pool", action="store_true")
    args = parser.parse_args()
    if args.units_on_the_pool:
        chat_turns.lend = lambda connection: nullcontext()  # type: ignore[assignment,misc,return-value]

    admin_url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        print(
            "skipped: set TEST_POSTGRES_URL (or BENCH_POSTGRES_URL); turns are shared on PostgreSQL"
        )
        return
    print(f"units of work {'on the pool' if args.units_on_the_pool else 'on the turn'}:")
    url, name = await fresh_database(admin_url)
    try:
        await measure(url)
    finally:
        await drop_database(admin_url, name)


if __name__ == "__main__":
    asyncio.run(main())
