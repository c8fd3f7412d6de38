"""Statements of the recharge path, compiled once and run straight on the database driver.

SQLAlchemy's session and its engine layer cost a few hundred microseconds per statement in
Python, many times what SQLite or PostgreSQL need for the small indexed statements a recharge
makes (measured: a primary-key read is 243 µs through the ORM, 85 µs through a Core connection
and 2 µs on the `sqlite3` connection itself; 375, 193 and 74 µs on asyncpg). The recharge path
makes dozens of them per order, so its statements are written in Core as usual, compiled once
per dialect into SQL text with SQLAlchemy's own parameter and result conversions, and then sent
on the unit of work's own driver connection, inside its transaction (see `unit_of_work.py`).

Only what a statement needs is supported: named bound parameters (no expanding IN lists),
rows read by column name, the number of rows a write touched. A broken constraint raises
SQLAlchemy's `IntegrityError`, as the session would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, exc, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None
# A row read by a driver statement: its columns by name, as the table's row class names them.
Record = Any


class Compiled:
    """One statement as one dialect runs it: SQL text, parameter order and conversions."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError("expanding IN lists are not supported here: compare one by one")
        binds = compiled.binds
        names = compiled.positiontup or []
        self.names: tuple[str, ...] = tuple(names)
        self.defaults: dict[str, Any] = {
            name: binds[name].effective_value for name in names if not binds[name].required
        }
        # Columns the statement does not set that have a default in Python, made per call.
        self.fills: dict[str, Callable[[], Any]] = {}
        prefetch = [(c, c.default) for c in compiled.insert_prefetch]
        prefetch += [(c, c.onupdate) for c in compiled.update_prefetch]
        for column, default in prefetch:
            self.fills[column.key] = _maker(default)
        self.binders: tuple[Processor, ...] = tuple(
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        columns = _result_columns(statement)
        self.readers: tuple[Processor, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        self.record: Any = namedtuple("Record", [c.key for c in columns], rename=True)  # type: ignore[misc]
        self.converts = any(self.readers)

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        values = []
        for name, binder in zip(self.names, self.binders, strict=True):
            if name in params:
                value = params[name]
            elif name in self.fills:
                value = self.fills[name]()
            else:
                value = self.defaults[name]
            values.append(binder(value) if binder is not None and value is not None else value)
        return values

    def read(self, row: Sequence[Any]) -> Any:
        if not self.converts:
            return self.record._make(row)
        return self.record._make(
            reader(value) if reader is not None and value is not None else value
            for reader, value in zip(self.readers, row, strict=True)
        )


def _maker(default: Any) -> Callable[[], Any]:
    """A column's Python default as a function of nothing."""
    if getattr(default, "is_callable", False):
        return lambda: default.arg(None)
    return lambda: default.arg


def _result_columns(statement: ClauseElement) -> list[Any]:
    selected = getattr(statement, "selected_columns", None)
    if selected is not None:
        return list(selected)
    returning = getattr(statement, "_returning", ())
    return list(getattr(statement, "exported_columns", ())) if returning else []


class Statement:
    """A Core statement, compiled on first use for each dialect it runs on."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, Compiled] = {}

    def on(self, dialect: Dialect) -> Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = Compiled(self.statement, dialect)
        return compiled


class Driver(ABC):
    """The driver connection of one unit of work, inside its transaction."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        # Set when the connection itself failed (the server went away): it must not be reused.
        self.broken = False

    @abstractmethod
    async def rows(self, statement: Statement, **params: Any) -> list[Any]:
        """Every row the statement returns, as records with the columns' names."""

    async def row(self, statement: Statement, **params: Any) -> Any | None:
        found = await self.rows(statement, **params)
        return found[0] if found else None

    async def value(self, statement: Statement, **params: Any) -> Any:
        found = await self.rows(statement, **params)
        return found[0][0] if found else None

    @abstractmethod
    async def run(self, statement: Statement, **params: Any) -> int:
        """Run a write; the number of rows it touched."""


class SqliteDriver(Driver):
    def __init__(self, dialect: Dialect, connection: sqlite3.Connection) -> None:
        super().__init__(dialect)
        self._connection = connection

    def _execute(self, compiled: Compiled, params: dict[str, Any]) -> sqlite3.Cursor:
        arguments = compiled.arguments(params)
        try:
            return self._connection.execute(compiled.sql, arguments)
        except sqlite3.IntegrityError as error:
            raise exc.IntegrityError(compiled.sql, arguments, error) from error
        except sqlite3.OperationalError as error:
            raise exc.OperationalError(compiled.sql, arguments, error) from error

    async def rows(self, statement: Statement, **params: Any) -> list[Any]:
        compiled = statement.on(self.dialect)
        cursor = self._execute(compiled, params)
        try:
            return [compiled.read(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    async def run(self, statement: Statement, **params: Any) -> int:
        compiled = statement.on(self.dialect)
        cursor = self._execute(compiled, params)
        try:
            if cursor.description is not None:  # RETURNING: one row per row touched
                return len(cursor.fetchall())
            return cursor.rowcount
        finally:
            cursor.close()


class PostgresDriver(Driver):
    def __init__(self, dialect: Dialect, connection: Any, adapter: Any) -> None:
        super().__init__(dialect)
        self._connection = connection  # an asyncpg connection
        self._adapter = adapter  # SQLAlchemy's adapter of it, which holds its transaction

    async def begin(self) -> None:
        """Begin the transaction now: SQLAlchemy would only at the first statement it runs."""
        if self._adapter._transaction is None:
            try:
                await self._adapter._start_transaction()
            except Exception as error:
                raise self.translated(error, "BEGIN", []) from error

    async def commit_now(self) -> bool:
        """Send COMMIT at once, before SQLAlchemy's own bookkeeping (which then has nothing
        left to send), so row locks are held no longer than needed. False: nothing to commit."""
        transaction = self._adapter._transaction
        if transaction is None:
            return False
        try:
            await self._adapter._call_and_discard(transaction.commit)
        except Exception as error:
            raise self.translated(error, "COMMIT", []) from error
        return True

    async def rows(self, statement: Statement, **params: Any) -> list[Any]:
        compiled = statement.on(self.dialect)
        found = await self._send(compiled, compiled.arguments(params), fetch=True)
        return [compiled.read(row) for row in found]

    async def run(self, statement: Statement, **params: Any) -> int:
        compiled = statement.on(self.dialect)
        arguments = compiled.arguments(params)
        if compiled.readers:
            return len(await self._send(compiled, arguments, fetch=True))
        status = await self._send(compiled, arguments, fetch=False)
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def _send(self, compiled: Compiled, arguments: list[Any], *, fetch: bool) -> Any:
        """The rows (`fetch`) or the status line of one statement."""
        try:
            if fetch:
                return await self._connection.fetch(compiled.sql, *arguments)
            return await self._connection.execute(compiled.sql, *arguments)
        except asyncio.CancelledError:
            self.broken = True  # cut off mid-statement: the connection's state is unknown
            raise
        except Exception as error:
            raise self.translated(error, compiled.sql, arguments) from error

    def translated(self, error: Exception, sql: str, arguments: list[Any]) -> Exception:
        """asyncpg's errors as SQLAlchemy's, so callers catch one kind whatever ran the
        statement; a connection that failed is marked broken."""
        import asyncpg  # only on PostgreSQL

        if isinstance(error, asyncpg.IntegrityConstraintViolationError):
            return exc.IntegrityError(sql, arguments, error)
        if isinstance(error, asyncpg.PostgresError):
            return exc.DBAPIError(sql, arguments, error)
        # Anything else is the connection's own failure (closed, reset, in a broken state).
        self.broken = True
        return exc.DBAPIError(sql, arguments, error, connection_invalidated=True)


class Connected(Protocol):
    """What a repository works on: the unit of work's session and its driver connection."""

    @property
    def session(self) -> AsyncSession: ...

    async def driver(self) -> Driver: ...


class Repository:
    """The base of repositories: the unit of work's session, and its driver connection."""

    def __init__(self, uow: Connected) -> None:
        self._uow = uow

    @property
    def _session(self) -> AsyncSession:
        return self._uow.session

    async def _driver(self) -> Driver:
        return await self._uow.driver()


def prefixed(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the parameters `v_<column>` that the statements here bind them to."""
    return {f"v_{key}": value for key, value in values.items()}


class StatementsByKeys:
    """Statements that differ only in a set of keys (the columns they write, the values they
    compare with), built once per set."""

    def __init__(self, build: Callable[[tuple[str, ...]], ClauseElement]) -> None:
        self._build = build
        self._made: dict[tuple[str, ...], Statement] = {}

    def __call__(self, keys: Iterable[str]) -> Statement:
        ordered = tuple(sorted(keys))
        statement = self._made.get(ordered)
        if statement is None:
            statement = self._made[ordered] = Statement(self._build(ordered))
        return statement


class RowInserter:
    """Inserts a new row of `table` from an ORM row object (the columns it sets; defaults
    fill the others) and returns its id; one statement per set of columns. `build` may give
    a statement that does more around the insert: it binds the row's columns as `v_<column>`
    and returns the new id first."""

    def __init__(
        self,
        table: Table,
        build: Callable[[tuple[str, ...]], ClauseElement] | None = None,
    ) -> None:
        self._table = table
        self._statements = StatementsByKeys(
            build
            or (
                lambda keys: (
                    insert(table)
                    .values({key: bindparam(f"v_{key}") for key in keys})
                    .returning(table.c.id)
                )
            )
        )

    async def insert(self, driver: Driver, row: Any, **params: Any) -> int:
        """Insert `row`; `params` are the extra parameters the statement binds."""
        values = {
            column.key: getattr(row, column.key)
            for column in self._table.columns
            if column.key != "id" and getattr(row, column.key) is not None
        }
        row.id = await driver.value(self._statements(values), **prefixed(values), **params)
        return int(row.id)
