"""The same services on SQLite and on PostgreSQL, concurrency included (their rules without a race
run on the fake unit of work: tests/services/test_customer_service.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.customers import TelegramProfile
from domain.money import Money
from domain.persistence.migrate import current_revision, head_revision, upgrade
from domain.persistence.tables import Base, CustomerRow, PhoneBindingRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.services.customers import PhoneAlreadyBound
from domain.services.registry import Services, build_services
from tests.sandbox import sandbox_ports


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(engine: AsyncEngine, clock: FakeClock) -> Services:
    return build_services(UnitOfWorkFactory.of(engine), clock, ports=sandbox_ports())


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migrations_build_exactly_the_schema_of_the_models(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision() is not None
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
    await upgrade(engine)  # running it again changes nothing
    assert await current_revision(engine) == head_revision()


async def test_concurrent_first_contact_registers_one_customer(
    services: Services, engine: AsyncEngine
) -> None:
    profile = TelegramProfile(555, "Li", language_code="en")
    turns = await asyncio.gather(*(services.customers.begin_turn(profile, 555) for _ in range(20)))
    assert len({turn.customer.id for turn in turns}) == 1
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(CustomerRow))
    assert count == 1


async def test_a_first_contact_reads_once_and_writes_the_new_customers_rows(
    services: Services, engine: AsyncEngine
) -> None:
    """A flash sale is mostly customers writing for the first time: their turn reads once (who
    they are: nobody yet) and writes their customer, wallet and points rows in one
    transaction, with nothing read again (two reads more before)."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement.lstrip().split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        turn = await services.customers.begin_turn(TelegramProfile(888, "Zhao"), 888)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert turn.customer.is_new and turn.state.idle and not turn.consented
    assert sorted(sent) == ["INSERT", "INSERT", "INSERT", "SELECT"] and sent[0] == "SELECT"
    assert await services.wallet.balance(turn.customer.id) == Money(0)
    assert await services.loyalty.balance(turn.customer.id) == (0, 0)


async def test_concurrent_binding_of_one_number_keeps_one_binding(
    services: Services, engine: AsyncEngine
) -> None:
    turn = await services.customers.begin_turn(TelegramProfile(777, "Wang"), 777)
    number = parse_phone_number("18612345678")
    results = await asyncio.gather(
        *(services.customers.bind_phone(turn.customer.id, number) for _ in range(10)),
        return_exceptions=True,
    )
    bound = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, PhoneAlreadyBound)]
    assert len(bound) == 1 and len(refused) == 9
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(PhoneBindingRow))
    assert count == 1


async def test_many_customers_arriving_at_once_are_all_registered(
    services: Services, engine: AsyncEngine
) -> None:
    profiles = [TelegramProfile(10_000 + n, f"c{n}") for n in range(200)]
    turns = await asyncio.gather(
        *(services.customers.begin_turn(p, p.telegram_id) for p in profiles)
    )
    assert len({turn.customer.id for turn in turns}) == 200
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(CustomerRow)) == 200
