"""Whether a failure means the database cannot be reached (rather than a fault in one request)."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc

# Errors of the driver or the pool that say the database is not there or the link to it broke.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,  # no pooled connection came free in time
    sqlite3.OperationalError,
)
# Plain network errors: the database's only when nothing else was being talked to.
_NETWORK = (ConnectionError, TimeoutError, OSError)


def database_unreachable(error: BaseException, *, only_the_database: bool = False) -> bool:
    """True when `error`, or what caused it, says the database cannot be reached. With
    `only_the_database` (nothing but the database was used), a plain network error counts too."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return True
        if only_the_database and isinstance(current, _NETWORK):
            return True
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return True
        kind = type(current)
        if kind.__module__.startswith("asyncpg") and "Connection" in kind.__name__:
            return True
        current = current.__cause__ or current.__context__
    return False


__all__ = ["database_unreachable"]
