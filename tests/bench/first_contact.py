"""What a new customer's first `/start` costs against a known customer's, in-process.

    [TEST_POSTGRES_URL=...] .venv/bin/python tests/bench/first_contact.py [--customers 500]

Sends `/start` through the conversation router (the turn both front ends run, without the
chat's lock or HTTP) for `--customers` customers who never wrote before (their row, wallet and
points balance are registered), then once more for each of them (now known), and prints the
client's CPU time per turn; three rounds after a warm-up, each with new customers. A flash sale
is mostly first contacts: the load test's open loop finds its slow answers there.

On SQLite (a temporary file) and, with TEST_POSTGRES_URL (or BENCH_POSTGRES_URL), on a fresh
PostgreSQL database.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.assembly import build_app
from tests.bench.scale_out import on_each_database
from tests.conftest import make_settings
from tests.handlers.chat import Chat

ROUNDS = 3


async def cpu_per_start(chats: list[Chat]) -> float:
    """CPU microseconds per `/start`, the chats one after the other."""
    gc.collect()
    started = time.process_time()
    for chat in chats:
        await chat.send("/start")
    return (time.process_time() - started) / len(chats) * 1e6


async def measure(url: str, customers: int) -> list[tuple[float, float]]:
    """(first contact, known customer) CPU per `/start`, one pair a round."""
    app = await build_app(make_settings(url))
    try:
        rounds = []
        for round_ in range(ROUNDS + 1):  # the first warms the caches and the pool
            first_id = 10_000_000 * (round_ + 1)
            chats = [Chat.of(app.conversation, first_id + n) for n in range(customers)]
            first = await cpu_per_start(chats)
            known = await cpu_per_start(chats)
            if round_:
                rounds.append((first, known))
        return rounds
    finally:
        await app.close()


def show(database: str, rounds: list[tuple[float, float]]) -> None:
    firsts = ", ".join(f"{first:.0f}" for first, _ in rounds)
    knowns = ", ".join(f"{known:.0f}" for _, known in rounds)
    print(f"{database}: /start CPU per turn, first contact {firsts} µs; known customer {knowns} µs")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args()

    async def measured(database: str, url: str) -> None:
        show(database, await measure(url, args.customers))

    await on_each_database(measured)


if __name__ == "__main__":
    asyncio.run(main())
