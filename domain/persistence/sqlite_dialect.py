"""SQLite through aiosqlite, without the thread hand-offs that would do nothing.

aiosqlite runs each connection's calls on a thread of its own; every call is a hand-off to that
thread and back (tens of microseconds of CPU, more than most of our statements take). A unit of
work that only reads opens no SQLite transaction, yet SQLAlchemy ends it with a rollback, and the
pool rolls back once more a connection that comes back after a commit: on SQLite both are no-ops
when no transaction is open (`sqlite3` itself skips them), but each still costs a hand-off. This
dialect asks the driver first (`in_transaction`, read off the connection without a hand-off) and
leaves them out when there is nothing to end; a connection that comes back to the pool with a
transaction still open is rolled back as before, so it keeps nothing and never holds the write
lock. Everything else is SQLAlchemy's aiosqlite dialect.

`tests/bench/aiogram_throughput.py` and `tests/bench/ptb_throughput.py` measure a customer's turn.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

# The driver name engines on SQLite are created with (`create_engine` sets it).
DRIVER = "aiosqlite_quiet"


def in_transaction(dbapi_connection: Any) -> bool:
    """Whether SQLite has a transaction open on the pooled connection (aiosqlite's public
    `in_transaction`, which reads the driver's flag without a hand-off)."""
    return bool(dbapi_connection.driver_connection.in_transaction)


class QuietSQLiteDialect(SQLiteDialect_aiosqlite):
    """aiosqlite's dialect; commit and rollback only when a transaction is open."""

    supports_statement_cache = True

    def do_rollback(self, dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            super().do_rollback(dbapi_connection)

    def do_commit(self, dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            super().do_commit(dbapi_connection)


registry.register(f"sqlite.{DRIVER}", __name__, QuietSQLiteDialect.__name__)
