"""The unit of work: one transaction per use case. Nothing is kept unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.persistence.database import create_session_factory
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
    customers: CustomerRepository
    phones: PhoneBindingRepository
    conversations: ConversationRepository
    products: ProductRepository
    orders: OrderRepository
    payments: PaymentRepository
    wallets: WalletRepository
    campaigns: CampaignRepository
    claims: OfferClaimRepository
    points: PointsRepository
    rewards: RewardRepository
    notices: NoticeRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        self.customers = CustomerRepository(self._session)
        self.phones = PhoneBindingRepository(self._session)
        self.conversations = ConversationRepository(self._session)
        self.products = ProductRepository(self._session)
        self.orders = OrderRepository(self._session)
        self.payments = PaymentRepository(self._session)
        self.wallets = WalletRepository(self._session)
        self.campaigns = CampaignRepository(self._session)
        self.claims = OfferClaimRepository(self._session)
        self.points = PointsRepository(self._session)
        self.rewards = RewardRepository(self._session)
        self.notices = NoticeRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        # Closing ends any transaction not committed (a rollback) and detaches loaded rows
        # with their values, so a use case can still read what it loaded.
        await self._session.close()
        self._session = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "unit of work used outside `async with`"
        return self._session

    async def commit(self) -> None:
        await self.session.commit()


class UnitOfWorkFactory:
    """Makes a fresh unit of work for each use case; `read()` for one that only reads."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        read_factory: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._read_factory = read_factory or session_factory

    @classmethod
    def of(cls, engine: AsyncEngine) -> UnitOfWorkFactory:
        return cls(create_session_factory(engine), create_session_factory(engine, read_only=True))

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._session_factory)

    def read(self) -> UnitOfWork:
        """A unit of work that never writes: on SQLite it does not wait for the write lock."""
        return UnitOfWork(self._read_factory)

    def single(self) -> UnitOfWork:
        """A unit of work of exactly one statement, atomic by itself: on SQLite it runs without
        an explicit transaction (no BEGIN IMMEDIATE), so it holds the write lock for one step.
        It must still be committed (PostgreSQL opens a transaction as usual)."""
        return UnitOfWork(self._read_factory)
