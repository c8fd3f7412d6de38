"""The unit of work: one transaction per use case. Nothing is kept unless `commit()` is called.

A unit of work opens nothing until it is used. Repositories built on the ORM session get the
session; the recharge path's statements get the driver connection (`driver()`, see
`driver.py`). Both may be used in one unit of work: they then share one connection and one
transaction, whichever came first.
"""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import cast

from sqlalchemy import exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

from domain.persistence.database import READ_ONLY
from domain.persistence.driver import Driver, PostgresDriver, SqliteDriver
from domain.persistence.loyalty_repositories import (
    CampaignRepository,
    NoticeRepository,
    OfferClaimRepository,
    PointsRepository,
    RewardRepository,
)
from domain.persistence.repositories import (
    ConversationRepository,
    CustomerRepository,
    OrderRepository,
    PaymentRepository,
    PhoneBindingRepository,
    ProductRepository,
    WalletRepository,
)


class UnitOfWork:
    def __init__(self, bind: AsyncEngine, *, transaction: bool) -> None:
        self._bind = bind
        # False: each driver statement is atomic by itself (reads, and single-statement writes).
        self._transaction = transaction
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None  # held when the driver came first
        self._driver: Driver | None = None

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing ends any transaction not committed (a rollback) and detaches loaded rows
        # with their values, so a use case can still read what it loaded. A connection the
        # server dropped is thrown away, not given to the next unit of work.
        broken = self._driver is not None and self._driver.broken
        self._driver = None
        try:
            if broken:
                connection = self._connection or await self.session.connection()
                await connection.invalidate()
            if self._session is not None:
                await self._session.close()
        finally:
            self._session = None
            if self._connection is not None:
                connection, self._connection = self._connection, None
                if connection.in_transaction() or self._pool.checkedin() >= self._pool.size():
                    # A rollback, or a connection closed for want of room, waits on the server.
                    await connection.close()
                else:
                    # Nothing to end and room in the pool: back to it without waiting.
                    connection.sync_connection.close()  # type: ignore[union-attr]

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            bind: AsyncEngine | AsyncConnection = self._connection or self._bind
            # On a connection the driver opened, the session joins its transaction, which
            # `commit()` then ends.
            self._session = AsyncSession(
                bind,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="rollback_only",
            )
        return self._session

    async def driver(self) -> Driver:
        """The driver connection, inside this unit of work's transaction."""
        if self._driver is not None:
            return self._driver
        if self._session is not None:
            connection = await self._session.connection()
            raw = await connection.get_raw_connection()
        else:
            if self._waits_for_nothing():
                sync = self._open(self._connection)
            else:
                # Checked out and begun in one hop into SQLAlchemy's synchronous core.
                sync = await greenlet_spawn(self._open, self._connection)
            if self._connection is None:
                self._connection = AsyncConnection(self._bind, sync)
            connection = self._connection
            raw = sync.connection
        dialect = self._bind.dialect
        if dialect.name == "sqlite":
            self._driver = SqliteDriver(dialect, raw.driver_connection._conn)  # type: ignore[union-attr]
        else:
            driver = PostgresDriver(dialect, raw.driver_connection, raw.dbapi_connection)
            if self._transaction:
                try:
                    await driver.begin()
                except exc.DBAPIError:
                    if driver.broken:  # the server dropped this connection
                        await connection.invalidate()
                    raise
            self._driver = driver
        return self._driver

    @property
    def _pool(self) -> QueuePool:
        return cast(QueuePool, self._bind.sync_engine.pool)

    def _waits_for_nothing(self) -> bool:
        """SQLite's one connection is free and nothing needs beginning: taking it does not
        wait, so it is taken here without a hop into SQLAlchemy's async bridge. (A PostgreSQL
        connection may have to be made again when taken: that waits on the server.)"""
        if self._bind.dialect.name != "sqlite" or self._transaction:
            return False
        return self._connection is not None or self._pool.checkedin() > 0

    def _open(self, connection: AsyncConnection | None) -> Connection:
        sync = connection.sync_connection if connection is not None else None
        if sync is None:
            sync = self._bind.sync_engine.connect()
        if self._transaction and not sync.in_transaction():
            sync.begin()
        return sync

    async def commit(self) -> None:
        driver, self._driver = self._driver, None  # the connection may go back to the pool
        if self._session is not None:
            await self._session.commit()
        if self._connection is not None and self._connection.in_transaction():
            if (
                self._session is None
                and isinstance(driver, PostgresDriver)
                and await driver.commit_now()
            ):
                # Only the driver was used, and it committed (an offer's row lock goes at
                # once): SQLAlchemy's own bookkeeping has nothing left to send.
                self._connection.sync_connection.commit()  # type: ignore[union-attr]
                return
            await self._connection.commit()

    @cached_property
    def customers(self) -> CustomerRepository:
        return CustomerRepository(self)

    @cached_property
    def phones(self) -> PhoneBindingRepository:
        return PhoneBindingRepository(self)

    @cached_property
    def conversations(self) -> ConversationRepository:
        return ConversationRepository(self)

    @cached_property
    def products(self) -> ProductRepository:
        return ProductRepository(self)

    @cached_property
    def orders(self) -> OrderRepository:
        return OrderRepository(self)

    @cached_property
    def payments(self) -> PaymentRepository:
        return PaymentRepository(self)

    @cached_property
    def wallets(self) -> WalletRepository:
        return WalletRepository(self)

    @cached_property
    def campaigns(self) -> CampaignRepository:
        return CampaignRepository(self)

    @cached_property
    def claims(self) -> OfferClaimRepository:
        return OfferClaimRepository(self)

    @cached_property
    def points(self) -> PointsRepository:
        return PointsRepository(self)

    @cached_property
    def rewards(self) -> RewardRepository:
        return RewardRepository(self.session)

    @cached_property
    def notices(self) -> NoticeRepository:
        return NoticeRepository(self.session)


class UnitOfWorkFactory:
    """Makes a fresh unit of work for each use case; `read()` for one that only reads."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._read_engine = engine.execution_options(**{READ_ONLY: True})

    @classmethod
    def of(cls, engine: AsyncEngine) -> UnitOfWorkFactory:
        return cls(engine)

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._engine, transaction=True)

    def read(self) -> UnitOfWork:
        """A unit of work that never writes: on SQLite it does not wait for the write lock."""
        return UnitOfWork(self._read_engine, transaction=False)

    def one_write(self) -> UnitOfWork:
        """A unit of work whose reads need no transaction around them and whose writes are
        each a new order or an order's move, with its history row and what goes with that
        move (its payment, its offers' slots, its grant), each a state the order may be left
        in: on PostgreSQL each write is one statement, atomic by itself, so no transaction
        is opened; on SQLite they are several statements, in one transaction."""
        if self._engine.dialect.name == "postgresql":
            return UnitOfWork(self._engine, transaction=False)
        return UnitOfWork(self._engine, transaction=True)

    def single(self) -> UnitOfWork:
        """A unit of work of exactly one statement, atomic by itself: on SQLite it runs without
        an explicit transaction (no BEGIN IMMEDIATE), so it holds the write lock for one step;
        on PostgreSQL a statement sent to the driver runs in its own implicit transaction. It
        must still be committed (what the session wrote is kept by the commit)."""
        return UnitOfWork(self._read_engine, transaction=False)
