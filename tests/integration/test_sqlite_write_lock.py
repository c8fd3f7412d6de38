"""While another process (a command-line tool such as `campaigns load`) holds the SQLite file's
write lock, the bot's writer waits for it off the event loop: the loop goes on, customers who
only read are answered at once, and the writer finishes as soon as the lock is free."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.assembly import build_app
from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.orders import OrderStatus
from domain.phone import parse_phone_number
from tests.conftest import make_settings

# Another process: takes the write lock, says so, and keeps it until it reads a line.
HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("UPDATE customers SET language = language")
print("held", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""
# Well above what a loaded machine adds, far below the busy timeout a writer run on the event
# loop would block it for.
LONGEST_STALL = 0.5
WATCHED = 0.3  # seconds the loop is watched while the writer waits


async def longest_gap(seconds: float) -> float:
    """The longest the event loop kept this task waiting for a 5 ms tick, over `seconds`."""
    worst, tick = 0.0, 0.005
    ends = time.perf_counter() + seconds
    while time.perf_counter() < ends:
        started = time.perf_counter()
        await asyncio.sleep(tick)
        worst = max(worst, time.perf_counter() - started - tick)
    return worst


async def test_a_writer_waits_for_another_process_lock_off_the_event_loop(
    sqlite_url: str,
) -> None:
    app = await build_app(make_settings(sqlite_url, demo_mode=True))
    holder: asyncio.subprocess.Process | None = None
    try:
        services = app.services
        writer_customer, reader = [
            (await services.customers.begin_turn(TelegramProfile(n), n)).customer for n in (1, 2)
        ]
        [product, *_] = await services.ordering.products(ProductKind.CREDIT)
        database = make_url(sqlite_url).database
        assert database is not None
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLDER,
            str(Path(database)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdin is not None and holder.stdout is not None
        assert await holder.stdout.readline() == b"held\n"

        writing = asyncio.create_task(
            services.ordering.create_order(
                writer_customer.id, 1, parse_phone_number("18612345678"), product.id
            )
        )
        # Another customer only reads: answered while the lock is held and the writer waits.
        assert await services.loyalty.live_offers() is not None
        assert await services.ordering.orders_of(reader.id) == []
        assert await longest_gap(WATCHED) < LONGEST_STALL
        assert not writing.done()  # it waits for the other process's lock

        holder.stdin.write(b"go\n")
        await holder.stdin.drain()
        assert await holder.wait() == 0
        order = await asyncio.wait_for(writing, 5)
        assert order.status is OrderStatus.CREATED
    finally:
        if holder is not None and holder.returncode is None:
            holder.kill()
            await holder.wait()
        await app.close()
