"""Core statements on the unit of work's connection, through SQLAlchemy's public async API.

Repositories write the statements of the money path (orders, payments, ledgers, offer slots)
in SQLAlchemy Core and run them here, on the connection of the unit of work's session, inside
its one transaction: the same statements on SQLite and PostgreSQL. A broken constraint raises
SQLAlchemy's `IntegrityError`; repositories turn the ones a caller must handle into domain
exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import Row, Table, bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable

# A row read by a Core statement: its columns by name, as the table's row class names them.
Record = Row[Any]


class OnConflict:
    """An INSERT that does nothing, or updates, where its unique key exists already: the one
    statement the two databases spell with different constructs (`INSERT ... ON CONFLICT`),
    built for each from `build(insert)` and picked by the connection's dialect."""

    def __init__(self, build: Callable[[Any], Executable]) -> None:
        self._statements = {"sqlite": build(sqlite.insert), "postgresql": build(postgresql.insert)}

    def on(self, dialect: Dialect) -> Executable:
        return self._statements[dialect.name]


Statement = Executable | OnConflict


def insert_on_conflict(session: AsyncSession, table: Any) -> Any:
    """An INSERT on `table` in the spelling of the session's database, to be finished with
    `on_conflict_do_nothing()` or `on_conflict_do_update()`: the same statement for a repository
    that runs it on its session (the Core statements here take `OnConflict`)."""
    return insert_in(session.get_bind().dialect.name, table)


def insert_in(dialect: str, table: Any) -> Any:
    """An INSERT on `table` in the spelling of the database `dialect` names, for statements
    built for one database (they differ in more than `ON CONFLICT`)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class CoreConnection:
    """The connection of one unit of work, inside its transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @property
    def dialect(self) -> Dialect:
        return self.connection.dialect

    async def _execute(self, statement: Statement, params: dict[str, Any]) -> Any:
        if isinstance(statement, OnConflict):
            statement = statement.on(self.dialect)
        return await self.connection.execute(statement, params)

    async def rows(self, statement: Statement, **params: Any) -> list[Record]:
        """Every row the statement returns."""
        result = await self._execute(statement, params)
        return list(result.all())

    async def row(self, statement: Statement, **params: Any) -> Record | None:
        result = await self._execute(statement, params)
        return result.first()  # type: ignore[no-any-return]

    async def value(self, statement: Statement, **params: Any) -> Any:
        result = await self._execute(statement, params)
        return result.scalar()

    async def run_many(self, statement: Executable, params: list[dict[str, Any]]) -> None:
        """Run a write once for each set of parameters, as one batch (executemany)."""
        if params:
            await self.connection.execute(statement, params)

    async def run(self, statement: Statement, **params: Any) -> int:
        """Run a write; the number of rows it touched (with RETURNING: the rows returned)."""
        result = await self._execute(statement, params)
        if result.returns_rows:
            return len(result.all())
        return int(result.rowcount)


class Connected(Protocol):
    """What a repository works on: the unit of work's session and its connection."""

    @property
    def session(self) -> AsyncSession: ...

    async def core(self) -> CoreConnection: ...


class Repository:
    """The base of repositories: the unit of work's session, and its Core connection."""

    def __init__(self, uow: Connected) -> None:
        self._uow = uow

    @property
    def _session(self) -> AsyncSession:
        return self._uow.session

    async def _core(self) -> CoreConnection:
        return await self._uow.core()


def prefixed(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the parameters `v_<column>` that the statements here bind them to."""
    return {f"v_{key}": value for key, value in values.items()}


def bound(columns: Iterable[str]) -> dict[str, Any]:
    """The columns' values of an INSERT, each bound to its parameter `v_<column>` (the names
    `prefixed` gives the values)."""
    return {column: bindparam(f"v_{column}") for column in columns}


class StatementsByKeys:
    """Statements that differ only in a set of keys (the columns they write, the values they
    compare with), built once per set."""

    def __init__(self, build: Callable[[tuple[str, ...]], Executable]) -> None:
        self._build = build
        self._made: dict[tuple[str, ...], Executable] = {}

    def __call__(self, keys: Iterable[str]) -> Executable:
        ordered = tuple(sorted(keys))
        statement = self._made.get(ordered)
        if statement is None:
            statement = self._made[ordered] = self._build(ordered)
        return statement


class RowInserter:
    """Inserts a new row of `table` from an ORM row object (the columns it sets; defaults
    fill the others) and returns its id; one statement per set of columns."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._statements = StatementsByKeys(
            lambda keys: insert(table).values(bound(keys)).returning(table.c.id)
        )

    async def insert(self, core: CoreConnection, row: Any) -> int:
        """Insert `row`; its new id is set on it and returned."""
        values = {
            column.key: getattr(row, column.key)
            for column in self._table.columns
            if column.key != "id" and getattr(row, column.key) is not None
        }
        row.id = await core.value(self._statements(values), **prefixed(values))
        return int(row.id)
