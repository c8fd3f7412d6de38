"""A SQLite connection goes back to the pool without the pool's rollback after every unit of
work; one that comes back with a transaction still open is rolled back all the same: it keeps
nothing, and it never holds the write lock from another writer; nor does one whose unit of work
was cancelled while its BEGIN waited for the lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.persistence.database import create_engine
from domain.persistence.unit_of_work import UnitOfWorkFactory


async def test_a_connection_returned_inside_a_transaction_keeps_nothing_and_frees_the_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reset.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("CREATE TABLE entries (n INTEGER)")
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("INSERT INTO entries VALUES (1)")
            assert driver.in_transaction
        # Back in the pool, with the transaction SQLAlchemy never saw still open on it.

        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the lock were kept
            assert other.execute("SELECT count(*) FROM entries").fetchone() == (0,)
            other.execute("ROLLBACK")
        finally:
            other.close()
    finally:
        await engine.dispose()


async def test_a_unit_cancelled_while_its_begin_waits_for_the_lock_leaves_no_transaction(
    tmp_path: Path,
) -> None:
    """A unit of work cancelled (a sweep cut short, the bot stopping) while its BEGIN IMMEDIATE
    waits on the driver's thread for another writer: once that writer is done, nothing of the
    unit holds the write lock, and the next unit writes as usual."""
    path = tmp_path / "cancelled.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    units = UnitOfWorkFactory(engine)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE entries (n INTEGER)"))
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process writing
            waiting = asyncio.create_task(write(units, 1))
            await asyncio.sleep(0.2)  # its BEGIN now waits for the lock on the driver's thread
            waiting.cancel()
            await asyncio.sleep(0.05)
            other.execute("ROLLBACK")
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await asyncio.sleep(0.2)  # the driver's thread has run what it was handed
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the BEGIN kept the lock
            other.execute("ROLLBACK")
        finally:
            other.close()
        await write(units, 2)
        async with units.read() as uow:
            assert await (await uow.core()).value(text("SELECT sum(n) FROM entries")) == 2
    finally:
        await engine.dispose()


async def write(units: UnitOfWorkFactory, n: int) -> None:
    async with units() as uow:
        await (await uow.core()).run(text("INSERT INTO entries VALUES (:n)"), n=n)
        await uow.commit()
