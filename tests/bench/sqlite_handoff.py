"""Benchmark: what one primary-key read costs on SQLite, by the way it reaches the database.

    .venv/bin/python tests/bench/sqlite_handoff.py [--reads 3000]

The same read (a customer's id and language by id) on a temp migrated database:
- on `sqlite3` in the event loop's own thread (what running SQLite inline would cost);
- on aiosqlite, one hand-off to its thread (`execute_fetchall`);
- on aiosqlite, cursor, execute, fetch and close (four hand-offs);
- through the bot's engine (`create_engine`: SQLAlchemy Core on the bot's SQLite dialect, a
  unit of work that only reads).

Printed for each: CPU per read over both threads (`time.process_time`), the event loop thread's
alone, and wall time. The difference between the first two is the price of one hand-off.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select

from domain.persistence.database import NO_TRANSACTION, create_engine
from domain.persistence.migrate import upgrade
from domain.persistence.tables import CustomerRow

READ = "SELECT id, language FROM customers WHERE id = 1"
WARM_UP = 200


async def timed(label: str, reads: int, read: Callable[[], Awaitable[object]]) -> None:
    for _ in range(WARM_UP):
        await read()
    cpu, loop_thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
    for _ in range(reads):
        await read()
    per = 1e6 / reads
    print(
        f"{label:<44} {(time.process_time() - cpu) * per:7.1f} µs CPU"
        f"  (loop thread {(time.thread_time() - loop_thread) * per:6.1f})"
        f"  {(time.perf_counter() - wall) * per:7.1f} µs wall"
    )


async def main(reads: int) -> None:
    path = Path(tempfile.mkdtemp()) / "handoff.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    with sqlite3.connect(path) as setup:
        setup.execute(
            "INSERT INTO customers (id, telegram_id, first_name, language, registered_at,"
            " last_seen_at) VALUES (1, 1, 'bench', 'zh-CN', '2026-01-01', '2026-01-01')"
        )
    print(f"{reads:,} primary-key reads each, after {WARM_UP} to warm up")

    inline = sqlite3.connect(path)

    async def on_sqlite3() -> object:
        return inline.execute(READ).fetchone()

    await timed("sqlite3 in the loop's thread", reads, on_sqlite3)
    inline.close()

    async with aiosqlite.connect(path) as driver:

        async def one_handoff() -> object:
            return await driver.execute_fetchall(READ)

        async def four_handoffs() -> object:
            cursor = await driver.execute(READ)
            row = await cursor.fetchone()
            await cursor.close()
            return row

        await timed("aiosqlite, 1 hand-off (execute_fetchall)", reads, one_handoff)
        await timed("aiosqlite, 4 hand-offs (cursor)", reads, four_handoffs)

    statement = select(CustomerRow.id, CustomerRow.language).where(CustomerRow.id == 1)
    reading = engine.execution_options(**{NO_TRANSACTION: True})
    async with reading.connect() as connection:

        async def through_engine() -> object:
            return (await connection.execute(statement)).first()

        await timed("the bot's engine (SQLAlchemy Core, read-only)", reads, through_engine)
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=3000)
    asyncio.run(main(parser.parse_args().reads))
