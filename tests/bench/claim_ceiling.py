"""Diagnostic: what one process's pool can do at all, beside the quota-claim benchmark.

    TEST_POSTGRES_URL=... .venv/bin/python tests/bench/claim_ceiling.py [--tasks 50] [--ops 3000]

Runs, through the same engine (`create_engine`, the bot's pool) and as many concurrent tasks as
`loyalty_throughput.py` has customers, each of these `--ops` times and prints the rate:

- `select 1`: a connection taken from the pool, one statement, given back (the client's ceiling);
- `select 1, autocommit`: the same without the transaction's BEGIN and ROLLBACK round trips (how
  the bot's units of work that only read, or write one statement, run);
- `select 1, asyncpg alone`: the same statement on asyncpg's own pool as large as the bot's, without
  SQLAlchemy (what the driver costs, and so what SQLAlchemy adds to each statement);
- `update distinct rows`: one transaction per operation, one UPDATE of the task's own row and a
  COMMIT (what commits cost when nothing waits for a lock; PostgreSQL flushes them together);
- `update one row, autocommit`: one UPDATE of a single shared row that commits by itself (its lock
  held from the statement to the end of its WAL flush);
- `update one row, BEGIN..COMMIT`: the same UPDATE in a transaction of its own (the lock held
  across the round trip of the COMMIT too);
- `update one row + 2 statements`: the shared UPDATE followed by two more statements before the
  COMMIT (a claim that writes the counter first);
- `update one of K rows, autocommit`: the UPDATE on one of `--shards` rows picked at random.

The figures say where the time of a claim goes: the client (CPU of this one Python process), the
commit's flush, or waiting for the one row's lock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.persistence.database import PoolBudget, create_engine

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _rate(tasks: int, ops: int, one: Callable[[int], Awaitable[None]]) -> float:
    left = [ops]

    async def worker(n: int) -> None:
        while left[0] > 0:
            left[0] -= 1
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(tasks)))
    return ops / (time.perf_counter() - started)


async def run(url: str, tasks: int, ops: int, shards: int) -> None:
    engine: AsyncEngine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE counters (id integer PRIMARY KEY, n integer)"))
        await connection.execute(
            text("INSERT INTO counters SELECT g, 0 FROM generate_series(0, :last) g"),
            {"last": max(tasks, shards)},
        )
    bump = text("UPDATE counters SET n = n + 1 WHERE id = :id")
    read = text("SELECT n FROM counters WHERE id = :id")

    async def select_one(_: int) -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def select_one_autocommit(_: int) -> None:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("SELECT 1"))

    driver_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    pool_size = PoolBudget().size  # the bot's pool keeps this many connections open
    driver_pool = await asyncpg.create_pool(driver_url, min_size=pool_size, max_size=pool_size)

    async def select_one_driver(_: int) -> None:
        async with driver_pool.acquire() as connection:
            await connection.fetchval("SELECT 1")

    async def distinct(n: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(bump, {"id": n + 1})

    async def hot_autocommit(_: int) -> None:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(bump, {"id": 0})

    async def hot_transaction(_: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(bump, {"id": 0})

    async def hot_then_more(n: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(bump, {"id": 0})
            await connection.execute(read, {"id": n + 1})
            await connection.execute(read, {"id": n + 1})

    async def sharded(_: int) -> None:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(bump, {"id": random.randrange(shards)})

    cases: list[tuple[str, Callable[[int], Awaitable[None]]]] = [
        ("select 1", select_one),
        ("select 1, autocommit", select_one_autocommit),
        ("select 1, asyncpg alone", select_one_driver),
        ("update distinct rows", distinct),
        ("update one row, autocommit", hot_autocommit),
        ("update one row, BEGIN..COMMIT", hot_transaction),
        ("update one row + 2 statements", hot_then_more),
        (f"update one of {shards} rows, autocommit", sharded),
    ]
    for name, case in cases:
        cpu = time.process_time()
        rate = await _rate(tasks, ops, case)
        cpu_ms = (time.process_time() - cpu) / ops * 1000
        print(f"{name:34s} {rate:8.0f}/s   client CPU {cpu_ms:.2f} ms per operation")
    await driver_pool.close()
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()
    name = f"ceiling_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.postgres_url)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(args.postgres_url).set(database=name)
        await run(url.render_as_string(hide_password=False), args.tasks, args.ops, args.shards)
    finally:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
