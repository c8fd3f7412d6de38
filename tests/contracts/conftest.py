"""The contract tests' world: the same test bodies against the fake unit of work, SQLite and
PostgreSQL (when TEST_POSTGRES_URL is set), so the fake cannot drift from the repositories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from domain.allowances import UNLIMITED
from domain.persistence.database import create_engine
from domain.persistence.tables import OfferRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.repositories import UnitOfWorkFactory as UnitsOfWork
from domain.repositories.money import MoneyUnitOfWorkFactory as MoneyUnitsOfWork
from domain.repositories.services import ServicesUnitOfWorkFactory as ServicesUnitsOfWork
from tests.conftest import POSTGRES_URL
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.integration.test_core_statements import a_campaign, a_customer, an_order

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


class World:
    """Where a contract runs: its units of work, and how a test gets the customers and orders
    that the repositories under test refer to."""

    units: UnitsOfWork

    @property
    def money(self) -> MoneyUnitsOfWork:
        """The same units of work, with the money repositories."""
        raise NotImplementedError

    @property
    def services(self) -> ServicesUnitsOfWork:
        """The same units of work, with every repository the services ask for."""
        raise NotImplementedError

    async def customer(self) -> int:
        """A registered customer with an empty wallet."""
        raise NotImplementedError

    async def order(self, customer_id: int, status: str = "completed") -> int:
        raise NotImplementedError

    async def offer(self, quota: int | None = None, budget_fen: int | None = None) -> int:
        """An offer of a live campaign, with `quota` slots and `budget_fen` of cash-back."""
        raise NotImplementedError

    async def offer_taken(self, offer_id: int) -> tuple[int, int]:
        """(slots used, cash-back spent) of the offer."""
        raise NotImplementedError

    async def points(self, customer_id: int) -> int:
        """The customer's points balance."""
        raise NotImplementedError


@dataclass
class FakeWorld(World):
    units: FakeUnitOfWorkFactory

    @property
    def money(self) -> MoneyUnitsOfWork:
        return self.units

    @property
    def services(self) -> ServicesUnitsOfWork:
        return self.units

    async def customer(self) -> int:
        customer_id = self.units.database.add_customer()
        async with self.units() as uow:
            await uow.wallets.open(customer_id, "CNY")
            await uow.commit()
        return customer_id

    async def order(self, customer_id: int, status: str = "completed") -> int:
        return self.units.database.add_order(customer_id, status)

    async def offer(self, quota: int | None = None, budget_fen: int | None = None) -> int:
        return self.units.database.add_offer(quota, budget_fen)

    async def offer_taken(self, offer_id: int) -> tuple[int, int]:
        offer = self.units.database.tables.offers[offer_id]
        return offer.used, offer.spent_fen

    async def points(self, customer_id: int) -> int:
        kept = self.units.database.tables.points_balances.get(customer_id)
        return kept.points if kept is not None else 0


@dataclass
class DatabaseWorld(World):
    units: UnitOfWorkFactory
    telegram_ids: int = 0
    offers: int = 0

    @property
    def money(self) -> MoneyUnitsOfWork:
        return self.units

    @property
    def services(self) -> ServicesUnitsOfWork:
        return self.units

    async def customer(self) -> int:
        self.telegram_ids += 1
        return await a_customer(self.units, 1000 + self.telegram_ids, points=False)

    async def order(self, customer_id: int, status: str = "completed") -> int:
        async with self.units() as uow:
            order = await uow.orders.add(an_order(customer_id, status=status), "test", UNLIMITED)
            await uow.commit()
        return order.id

    async def offer(self, quota: int | None = None, budget_fen: int | None = None) -> int:
        self.offers += 1
        code = f"offer-{self.offers}"
        async with self.units() as uow:
            campaign = a_campaign(code, NOW - timedelta(days=1), NOW + timedelta(days=1), 1)
            uow.session.add(campaign)
            await uow.session.flush()
            row = OfferRow(
                campaign_id=campaign.id, code=code, kind="k", quota=quota, budget_fen=budget_fen
            )
            uow.session.add(row)
            await uow.session.flush()
            await uow.commit()
            return row.id

    async def offer_taken(self, offer_id: int) -> tuple[int, int]:
        async with self.units.read() as uow:
            row = await uow.campaigns.offer(offer_id)
        assert row is not None
        return row.used, row.spent_fen

    async def points(self, customer_id: int) -> int:
        async with self.units.read() as uow:
            return await uow.points.balance(customer_id)


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "fake":
        yield FakeWorld(FakeUnitOfWorkFactory())
        return
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")  # a migrated copy only where it is used
    else:
        if not POSTGRES_URL:
            pytest.skip("TEST_POSTGRES_URL is not set")
        url = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    try:
        yield DatabaseWorld(UnitOfWorkFactory.of(engine))
    finally:
        await engine.dispose()
