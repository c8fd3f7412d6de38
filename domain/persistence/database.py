"""Engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from domain.errors import RecordConflict
from domain.persistence import sqlite_dialect

SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_POOL_SIZE = 5


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def quiet_sqlite(url: str) -> URL:
    """The aiosqlite URL on the dialect that leaves out commits and rollbacks with nothing to
    end (`domain.persistence.sqlite_dialect`); any other URL as it is."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.get_driver_name() == "aiosqlite":
        return parsed.set(drivername=f"sqlite+{sqlite_dialect.DRIVER}")
    return parsed


def ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun by `_begin_immediate`, not by the driver.
    if dbapi_connection.isolation_level is not None:
        dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# The execution option of a unit of work that opens no transaction of its own (one that only
# reads, or one that writes with a single statement): on SQLite no BEGIN IMMEDIATE is sent.
NO_TRANSACTION = "wallet_no_transaction"


def _as_domain_error(context: ExceptionContext) -> BaseException | None:
    """A broken constraint reaches the services as the domain's `RecordConflict`, whatever
    ran the statement (a repository's Core statement or the session's flush)."""
    if isinstance(context.sqlalchemy_exception, IntegrityError):
        return RecordConflict(str(context.original_exception))
    return None


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock when a transaction begins, waiting up to the busy timeout.

    A deferred transaction that reads and then writes can fail at once with "database is
    locked" when another writer committed in between; an immediate one waits its turn instead.
    Units of work with the `NO_TRANSACTION` execution option open no transaction of their
    own: each statement of one that reads sees a consistent snapshot (in WAL mode readers never
    wait for writers), and the one statement of a single-statement write commits by itself.

    The BEGIN goes to aiosqlite's thread in one hand-off (`run_async`, SQLAlchemy's way to call
    the driver from an event), not as a statement with a cursor of its own (three).
    """
    if not connection.get_execution_options().get(NO_TRANSACTION):
        connection.connection.dbapi_connection.run_async(_begin_immediately)


async def _begin_immediately(driver_connection: Any) -> None:
    try:
        await driver_connection.execute_fetchall("BEGIN IMMEDIATE")
    except asyncio.CancelledError:
        # Cancelled while the BEGIN waited for the driver's thread, which still runs it: the
        # transaction it opens is one SQLAlchemy never saw begin, and nothing would end it
        # (the connection went back to the pool inside it, and the next unit's BEGIN failed
        # "cannot start a transaction within a transaction"). A rollback queued behind it on
        # the same thread ends it before the connection is used again.
        with suppress(Exception):
            await driver_connection.rollback()
        raise


@dataclass(frozen=True)
class PoolBudget:
    """How many PostgreSQL connections one process may hold: `size` kept open, `overflow` more
    at a burst, waiting at most `timeout_seconds` for one. Every process of a deployment takes
    up to size + overflow of the server's connections (see the README's rule)."""

    size: int = 20
    overflow: int = 0
    timeout_seconds: float = 5.0


def create_engine(url: str, *, echo: bool = False, pool: PoolBudget | None = None) -> AsyncEngine:
    """An async engine with the settings each backend needs for concurrent use."""
    if is_sqlite(url):
        ensure_sqlite_directory(url)
        engine = create_async_engine(
            quiet_sqlite(url),
            echo=echo,
            # aiosqlite runs each connection's statements on a thread of its own, so a
            # connection waiting for SQLite's write lock (another process writing) never
            # stops the event loop. Writers of this process queue for the lock in
            # `UnitOfWorkFactory`; readers of a WAL database never wait for writers.
            poolclass=AsyncAdaptedQueuePool,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=0,
            pool_timeout=120,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
    else:
        budget = pool or PoolBudget()
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=budget.size,
            max_overflow=budget.overflow,
            pool_timeout=budget.timeout_seconds,
            pool_recycle=3600,
        )
    event.listen(engine.sync_engine, "handle_error", _as_domain_error)
    return engine


def create_session_factory(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    bind = engine.execution_options(**{NO_TRANSACTION: True}) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
