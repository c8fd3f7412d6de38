"""SQLite for SQLAlchemy's async engine, run inline on the event loop's own thread.

aiosqlite runs every statement on a helper thread and hands the result back through the event
loop: about a millisecond of handoffs per statement, many times what SQLite itself needs for
the small indexed statements this product makes. This module gives the engine an
aiosqlite-shaped connection whose coroutines run the standard `sqlite3` module directly and
finish without suspending, so a statement costs what SQLite costs.

Running inline is only safe with one connection per engine: a second connection waiting for
SQLite's write lock would block the very thread the lock holder needs to finish. The engine
therefore keeps one connection (`create_engine` in `database.py`); units of work queue for it
in the pool, asynchronously, and each holds it only for its own statements. Another process
holding the lock (a command-line tool) is waited for up to the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any


class InlineCursor:
    """The cursor half of aiosqlite's interface, over a `sqlite3.Cursor`."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return self._cursor.fetchmany()
        return self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _ImmediateQueue:
    """Stands in for aiosqlite's work queue: the work is done at once, on this thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InlineConnection:
    """The connection half of aiosqlite's interface, over a `sqlite3.Connection`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        # Names SQLAlchemy's aiosqlite adapter reaches for on an aiosqlite connection.
        self._connection: sqlite3.Connection | None = connection
        self._conn = connection
        self._tx = _ImmediateQueue(connection)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def inline_connector(path: str, timeout_seconds: float) -> Callable[[], Any]:
    """The `async_creator` of an engine on the SQLite file at `path`."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(
            path,
            timeout=timeout_seconds,
            isolation_level=None,  # transactions are begun explicitly (BEGIN IMMEDIATE)
            check_same_thread=False,
        )
        return InlineConnection(connection)

    return connect
