"""A SQLite connection goes back to the pool without the pool's rollback after every unit of
work; one that comes back with a transaction still open is rolled back all the same: it keeps
nothing, and it never holds the write lock from another writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from domain.persistence.database import create_engine


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
