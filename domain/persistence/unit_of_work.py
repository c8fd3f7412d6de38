"""The unit of work: one transaction per use case. Nothing is kept unless `commit()` is called.

A unit of work opens nothing until it is used. Repositories run ORM queries on its session and
Core statements on the session's connection (`core()`): one connection, one transaction. A unit
of work is never opened inside another (`NestedUnitOfWorkError`). A unit of work that could not
get a connection within the pool's timeout raises the domain's `DatabaseBusy`. Within a chat
turn shared across processes, the turn's units of work run on the connection that holds the
chat's lock (`domain.persistence.turn_connection`) and take nothing from the pool.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from functools import cached_property
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import QueuePool

from domain.errors import DatabaseBusy
from domain.persistence.allowance_repository import AllowanceRepository
from domain.persistence.audit_repository import AuditRepository
from domain.persistence.broadcast_repositories import BroadcastRepository
from domain.persistence.campaign_file_repository import CampaignFileRepository
from domain.persistence.connection_gate import ConnectionGate
from domain.persistence.consent_repository import ConsentRepository
from domain.persistence.core import CoreConnection
from domain.persistence.dashboard_repositories import (
    DashboardTokenRepository,
    StaffDigestRepository,
)
from domain.persistence.database import NO_TRANSACTION
from domain.persistence.figure_queries import FigureQueries
from domain.persistence.holdout_buckets import HoldoutBucketRepository
from domain.persistence.loyalty_repositories import (
    CampaignRepository,
    NoticeRepository,
    OfferClaimRepository,
    PointsRepository,
    RewardCouponRepository,
    RewardRepository,
)
from domain.persistence.number_allowances import NumberAllowanceRepository
from domain.persistence.pin_repository import PinRepository
from domain.persistence.privacy_repositories import PrivacyRepository
from domain.persistence.push_figure_queries import PushFigureQueries
from domain.persistence.referral_repositories import ReferralRepository
from domain.persistence.reminder_repositories import LeaseRepository, ReminderRepository
from domain.persistence.repositories import (
    ConversationRepository,
    CustomerRepository,
    OrderRepository,
    PaymentRepository,
    PhoneBindingRepository,
    ProductRepository,
    WalletRepository,
)
from domain.persistence.risk_repository import RiskRepository
from domain.persistence.rollup_fold import RollupFoldRepository
from domain.persistence.rollups import OffersSeenRepository
from domain.persistence.support_repositories import SupportRepository
from domain.persistence.turn_connection import LentConnection, borrow, give_back


class NestedUnitOfWorkError(RuntimeError):
    """A unit of work was opened while another was open in the same task."""


_open_unit: ContextVar[UnitOfWork | None] = ContextVar("open_unit_of_work", default=None)


def in_unit_of_work() -> bool:
    """Whether this task has a unit of work open (none may be, across a network call)."""
    return _open_unit.get() is not None


# PostgreSQL settings of a report's transaction (`UnitOfWorkFactory.report`), set for that
# transaction only. A statement asyncpg prepared is planned for its own values only for its first
# five runs; from then on PostgreSQL may keep one generic plan for any values, and on the roll-ups
# of a million orders the generic plans of the hold-out page's sums took it from 230 to 390 ms
# (`tests/bench/dashboard_queries.py`). JIT compiling plans with a high estimated cost spent up to
# hundreds of milliseconds on statements that run in tens.
REPORT_SETTINGS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('jit', 'off', true)"
)


class UnitOfWork:
    def __init__(
        self,
        bind: AsyncEngine,
        writers: asyncio.Lock | None = None,
        *,
        report: bool = False,
        gate: ConnectionGate | None = None,
    ) -> None:
        self._bind = bind
        self._writers = writers
        self._report = report
        self._gate = gate
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None  # opened when Core came first
        self._core: CoreConnection | None = None
        self._lent: LentConnection | None = None  # the chat turn's connection, borrowed

    async def __aenter__(self) -> UnitOfWork:
        if _open_unit.get() is not None:
            # It would wait for a connection the outer one may hold (SQLite has one writer),
            # and its commit would not be the outer one's: one use case, one unit of work.
            raise NestedUnitOfWorkError("a unit of work was opened inside another")
        if self._writers is not None:
            await self._writers.acquire()
        self._lent = borrow()
        if self._gate is not None and self._lent is None:
            try:
                await self._gate.enter()
            except BaseException:
                if self._writers is not None:
                    self._writers.release()
                raise
        self._token = _open_unit.set(self)
        try:
            if self._lent is not None:
                self._connection = self._lent.connection
                if not self._autocommit:
                    # The turn's connection commits each statement by itself between units
                    # (what SQLAlchemy began around them is ended first: nothing is sent).
                    if self._connection.in_transaction():
                        await self._connection.commit()
                    await self._connection.execution_options(
                        isolation_level=self._bind.dialect.default_isolation_level
                    )
            if self._report:
                if self._connection is None:
                    self._connection = await self._bind.connect()
                await self._connection.execute(REPORT_SETTINGS)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    @property
    def _autocommit(self) -> bool:
        return self._bind.get_execution_options().get("isolation_level") == "AUTOCOMMIT"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing ends any transaction not committed (a rollback) and detaches loaded rows
        # with their values, so a use case can still read what it loaded.
        _open_unit.reset(self._token)
        self._core = None
        try:
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()
            if self._lent is not None:
                self._connection = None
                await self._give_back_lent()
            elif self._connection is not None:
                connection, self._connection = self._connection, None
                await connection.close()
        finally:
            if self._lent is not None:
                self._lent = None
            elif self._gate is not None:
                self._gate.leave()
            if self._writers is not None:
                self._writers.release()
        if isinstance(exc, PoolTimeout):
            # Every connection of the process's budget stayed in use for the pool's timeout:
            # the services are told in the domain's words (nothing of this unit was kept).
            raise DatabaseBusy("no database connection came free in time") from exc

    async def _give_back_lent(self) -> None:
        """The turn's connection back to the turn as it was lent: nothing of this unit left
        uncommitted, each statement committing by itself again. A connection that cannot
        say so stays out of the turn's units (the turn finds it broken when it ends)."""
        assert self._lent is not None
        connection = self._lent.connection
        try:
            if connection.in_transaction():
                await connection.rollback()
            if not self._autocommit:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
        except (SQLAlchemyError, OSError):
            return
        give_back(self._lent)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            # On a connection Core opened first, the session joins its transaction, which
            # `commit()` then ends.
            self._session = AsyncSession(
                self._connection or self._bind,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="rollback_only",
            )
        return self._session

    async def core(self) -> CoreConnection:
        """The connection for Core statements, inside this unit of work's transaction: the
        session's when the session came first, or one of its own that a session later
        joins (a use case on Core alone never builds a session)."""
        if self._core is None:
            if self._session is not None:
                connection = await self._session.connection()
            else:
                if self._connection is None:
                    self._connection = await self._bind.connect()
                connection = self._connection
            self._core = CoreConnection(connection)
        return self._core

    async def rollback(self) -> None:
        """End the transaction without keeping anything; the unit of work may go on reading."""
        if self._session is not None:
            await self._session.rollback()
        if self._connection is not None and self._connection.in_transaction():
            await self._connection.rollback()

    async def commit(self) -> None:
        if self._session is not None:
            await self._session.commit()
        if self._connection is not None and self._connection.in_transaction():
            await self._connection.commit()

    @cached_property
    def allowances(self) -> AllowanceRepository:
        return AllowanceRepository(self)

    @cached_property
    def number_allowances(self) -> NumberAllowanceRepository:
        return NumberAllowanceRepository(self)

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
        return RewardRepository(self)

    @cached_property
    def reward_coupons(self) -> RewardCouponRepository:
        return RewardCouponRepository(self)

    @cached_property
    def notices(self) -> NoticeRepository:
        return NoticeRepository(self)

    @cached_property
    def support(self) -> SupportRepository:
        return SupportRepository(self)

    @cached_property
    def referrals(self) -> ReferralRepository:
        return ReferralRepository(self)

    @cached_property
    def reminders(self) -> ReminderRepository:
        return ReminderRepository(self)

    @cached_property
    def broadcasts(self) -> BroadcastRepository:
        return BroadcastRepository(self)

    @cached_property
    def leases(self) -> LeaseRepository:
        return LeaseRepository(self)

    @cached_property
    def privacy(self) -> PrivacyRepository:
        return PrivacyRepository(self)

    @cached_property
    def dashboard_tokens(self) -> DashboardTokenRepository:
        return DashboardTokenRepository(self)

    @cached_property
    def staff_digests(self) -> StaffDigestRepository:
        return StaffDigestRepository(self)

    @cached_property
    def figures(self) -> FigureQueries:
        return FigureQueries(self)

    @cached_property
    def push_figures(self) -> PushFigureQueries:
        return PushFigureQueries(self)

    @cached_property
    def offers_seen(self) -> OffersSeenRepository:
        return OffersSeenRepository(self)

    @cached_property
    def holdout_buckets(self) -> HoldoutBucketRepository:
        return HoldoutBucketRepository(self)

    @cached_property
    def rollups(self) -> RollupFoldRepository:
        return RollupFoldRepository(self)

    @cached_property
    def risk(self) -> RiskRepository:
        return RiskRepository(self)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self)

    @cached_property
    def pins(self) -> PinRepository:
        return PinRepository(self)

    @cached_property
    def consents(self) -> ConsentRepository:
        return ConsentRepository(self)

    @cached_property
    def campaign_files(self) -> CampaignFileRepository:
        return CampaignFileRepository(self)


def autocommit_options(engine: AsyncEngine) -> dict[str, object]:
    """A unit of work that only reads, or that writes with one statement, opens no transaction
    on either database. Each statement of a reading one reads the latest committed data, as it
    would inside a READ COMMITTED transaction (PostgreSQL's) or between SQLite's writers; the one
    statement of a single-statement write is atomic by itself. On PostgreSQL that saves the
    BEGIN and the COMMIT or ROLLBACK, two of the unit's round trips to the server; on SQLite the
    BEGIN IMMEDIATE and the COMMIT, two hand-offs to the driver's thread."""
    if engine.dialect.name == "postgresql":
        return {NO_TRANSACTION: True, "isolation_level": "AUTOCOMMIT"}
    return {NO_TRANSACTION: True}


def connection_gate(
    engine: AsyncEngine, set_aside: int = 0, overflow: int = 0
) -> ConnectionGate | None:
    """The gate in front of the engine's pool: its kept connections and the `overflow` it may
    add at a burst (the pool does not tell it), less `set_aside`, waiting at most the pool's
    timeout (None for a pool that keeps no fixed number of connections)."""
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool):
        return None
    return ConnectionGate(max(1, pool.size() + overflow - set_aside), pool.timeout())


class UnitOfWorkFactory:
    """Makes a fresh unit of work for each use case; `read()` for one that only reads,
    `single_statement()` for one that writes with exactly one statement.

    Every unit passes one `ConnectionGate`, so units take the pool's connections in the order
    they asked: as many at once as the pool keeps (and its `overflow`), less `set_aside`
    connections that are used outside units of work (chat turns' locks, a readiness probe)."""

    def __init__(self, engine: AsyncEngine, *, set_aside: int = 0, overflow: int = 0) -> None:
        self._engine = engine
        self._autocommit_engine = engine.execution_options(**autocommit_options(engine))
        # SQLite takes one writer at a time: this process's writers queue here, without
        # polling for the lock; another process's write is waited for on aiosqlite's thread.
        self._writers = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self.gate = connection_gate(engine, set_aside, overflow)

    @classmethod
    def of(cls, engine: AsyncEngine) -> UnitOfWorkFactory:
        return cls(engine)

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._engine, self._writers, gate=self.gate)

    def read(self) -> UnitOfWork:
        """A unit of work that never writes: on SQLite it does not wait for the write lock."""
        return UnitOfWork(self._autocommit_engine, gate=self.gate)

    def report(self) -> UnitOfWork:
        """A unit of work that only reads figures summed over many rows (the dashboard's pages).
        On PostgreSQL its statements run in one transaction that plans each for its own values
        and compiles none (`REPORT_SETTINGS`: two settings for that transaction only); on SQLite
        it is `read()`."""
        if self._engine.dialect.name != "postgresql":
            return self.read()
        return UnitOfWork(self._engine, report=True, gate=self.gate)

    def single_statement(self) -> UnitOfWork:
        """A unit of work that writes with one statement and nothing else (an upsert): the
        statement commits by itself, without a BEGIN or a COMMIT sent; on SQLite it queues
        with this process's other writers. Never for two statements: they would not be one
        transaction."""
        return UnitOfWork(self._autocommit_engine, self._writers, gate=self.gate)
