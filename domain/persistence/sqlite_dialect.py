"""SQLite through aiosqlite, without the thread hand-offs that would do nothing.

aiosqlite runs each connection's calls on a thread of its own; every call is a hand-off to that
thread and back (tens of microseconds of CPU, more than most of our statements take). A unit of
work that only reads opens no SQLite transaction, yet SQLAlchemy ends it with a rollback, and the
pool rolls back once more a connection that comes back after a commit: on SQLite both are no-ops
when no transaction is open (`sqlite3` itself skips them), but each still costs a hand-off. This
dialect asks the driver first (`in_transaction`, read off the connection without a hand-off) and
leaves them out when there is nothing to end; a connection that comes back to the pool with a
transaction still open is rolled back as before, so it keeps nothing and never holds the write
lock. (A BEGIN still queued on the driver's thread when its unit was cancelled is not open yet
when the connection comes back: `database._begin_immediately` queues a rollback behind it.)

A statement is one hand-off, and a second only to take the rows it returns (`StatementCursor`):
SQLAlchemy's own cursor for aiosqlite makes a driver cursor, runs the statement, takes its rows
and closes the cursor, each in a hand-off of its own. Everything else is SQLAlchemy's aiosqlite
dialect.

`tests/bench/aiogram_throughput.py` and `tests/bench/ptb_throughput.py` measure a customer's turn,
`tests/bench/recharge_throughput.py` a recharge.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    SQLiteDialect_aiosqlite,
    SQLiteExecutionContext_aiosqlite,
)
from sqlalchemy.engine.interfaces import AdaptedConnection

# The driver name engines on SQLite are created with (`create_engine` sets it).
DRIVER = "aiosqlite_quiet"


def in_transaction(dbapi_connection: Any) -> bool:
    """Whether SQLite has a transaction open on the pooled connection (aiosqlite's public
    `in_transaction`, which reads the driver's flag without a hand-off)."""
    return bool(dbapi_connection.driver_connection.in_transaction)


class StatementCursor:
    """A DB-API cursor that runs each statement with aiosqlite's `Connection.execute` (the
    driver's cursor made and the statement run in one hand-off) and takes every row it returns
    with one `fetchall` more, before the call returns. The driver's cursor is then done with
    (`sqlite3` resets a statement once its last row is read, or at once when it returns none),
    so closing this one hands nothing off."""

    arraysize = 1

    def __init__(self, connection: AdaptedConnection) -> None:
        self.connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.rows: deque[Any] = deque()

    def _driven(self, call: Any) -> Any:
        """Run `call(driver_connection)` on the driver's thread; an error as SQLAlchemy's own
        aiosqlite cursor raises it (a closed driver connection is an `OperationalError`)."""
        try:
            return self.connection.run_async(call)
        except ValueError as error:
            if error.args and error.args[0] == "no active connection":
                raise sqlite3.OperationalError("no active connection") from error
            raise

    def _took(self, cursor: Any) -> None:
        if cursor.description:
            self.rows = deque(self._driven(lambda _: cursor.fetchall()))
        else:
            self.rows = deque()
        # Read once the statement is done: a RETURNING statement counts its rows as they come.
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._took(self._driven(lambda driver: driver.execute(operation, parameters)))

    def executemany(self, operation: Any, parameters: Any) -> None:
        self._took(self._driven(lambda driver: driver.executemany(operation, parameters)))

    def fetchone(self) -> Any:
        return self.rows.popleft() if self.rows else None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = min(self.arraysize if size is None else size, len(self.rows))
        return [self.rows.popleft() for _ in range(count)]

    def fetchall(self) -> Sequence[Any]:
        rows = list(self.rows)
        self.rows.clear()
        return rows

    def __iter__(self) -> Any:
        while self.rows:
            yield self.rows.popleft()

    def close(self) -> None:
        self.rows.clear()

    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's asyncio results call on a cursor with rows left to read: its
        rows are all here already, the driver's cursor done with."""

    def setinputsizes(self, *sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass

    def nextset(self) -> None:
        return None


class StatementContext(SQLiteExecutionContext_aiosqlite):
    """SQLAlchemy's execution context for aiosqlite, running statements on `StatementCursor`."""

    def create_default_cursor(self) -> Any:
        pooled = self.root_connection.connection.dbapi_connection
        return StatementCursor(cast(AdaptedConnection, pooled))


class QuietSQLiteDialect(SQLiteDialect_aiosqlite):
    """aiosqlite's dialect; commit and rollback only when a transaction is open, and a
    statement in one hand-off (two with rows)."""

    supports_statement_cache = True
    execution_ctx_cls = StatementContext

    def do_rollback(self, dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            super().do_rollback(dbapi_connection)

    def do_commit(self, dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            super().do_commit(dbapi_connection)


registry.register(f"sqlite.{DRIVER}", __name__, QuietSQLiteDialect.__name__)
