"""Diagnostic: what one read unit of work costs through an ORM session and through Core.

    [TEST_POSTGRES_URL=...] .venv/bin/python tests/bench/orm_or_core.py [--reads 3000]

Reads one customer by id in a read unit of work (`UnitOfWorkFactory.read()`), `--reads` times
one after the other, and prints the client's CPU time per unit:

- `ORM session`: `session.get` of the customer's mapped row, as the repositories read it before
  (the unit builds an `AsyncSession`, loads the row into its identity map, copies it out);
- `Core`: `CustomerRepository.get`, one Core statement on the unit's connection (no session).

On SQLite (a temporary file) and, with TEST_POSTGRES_URL (or BENCH_POSTGRES_URL), on a fresh
PostgreSQL database. The difference is what each unit of work of a turn saves by not building
an ORM session (the load test prints ORM sessions per update).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from domain.persistence.database import create_engine
from domain.persistence.migrate import upgrade
from domain.persistence.tables import CustomerRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.repositories import NewCustomer
from tests.bench.scale_out import on_each_database


async def cpu_per_call(reads: int, call: Callable[[], Awaitable[None]]) -> float:
    """CPU microseconds per call, after a warm-up."""
    for _ in range(200):
        await call()
    started = time.process_time()
    for _ in range(reads):
        await call()
    return (time.process_time() - started) / reads * 1e6


async def measure(url: str, reads: int) -> dict[str, float]:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        units = UnitOfWorkFactory(engine)
        async with units() as uow:
            customer = await uow.customers.register(
                NewCustomer(1, "Bench", None, None, "zh-CN", datetime.now(UTC))
            )
            await uow.commit()

        async def through_orm() -> None:
            async with units.read() as uow:
                row = await uow.session.get(CustomerRow, customer.id, populate_existing=True)
                assert row is not None

        async def through_core() -> None:
            async with units.read() as uow:
                assert await uow.customers.get(customer.id) is not None

        figures: dict[str, float] = {"ORM session": 0.0, "Core": 0.0}
        for _ in range(2):  # alternated, the better of two rounds each
            for name, call in (("ORM session", through_orm), ("Core", through_core)):
                spent = await cpu_per_call(reads, call)
                figures[name] = min(figures[name] or spent, spent)
        return figures
    finally:
        await engine.dispose()


def show(database: str, figures: dict[str, float]) -> None:
    orm, core = figures["ORM session"], figures["Core"]
    print(
        f"{database}: one read unit of work, CPU {orm:.0f} µs through an ORM session,"
        f" {core:.0f} µs through Core ({orm - core:.0f} µs saved, {orm / core:.2f}x)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=3000)
    args = parser.parse_args()

    async def measured(database: str, url: str) -> None:
        show(database, await measure(url, args.reads))

    await on_each_database(measured)


if __name__ == "__main__":
    asyncio.run(main())
