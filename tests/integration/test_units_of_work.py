"""A unit of work is never opened inside another, and none is held across a call to a payment
provider or the carrier gateway (a slow carrier would hold a connection and, on SQLite, the
write lock, for every other customer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxMode, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.unit_of_work import (
    NestedUnitOfWorkError,
    UnitOfWorkFactory,
    in_unit_of_work,
)
from domain.phone import parse_phone_number
from domain.ports import ChargeResult, TopUpResult
from domain.services.recharge import PaymentDeclined, RechargeConfig
from domain.services.registry import Ports, build_services


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class WatchedPayments(SandboxPayments):
    calls_inside: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.calls_inside = []

    async def charge(self, order: Order) -> ChargeResult:
        if in_unit_of_work():
            self.calls_inside.append("charge")
        return await super().charge(order)

    async def refund(self, order: Order, reference: str | None) -> bool:
        if in_unit_of_work():
            self.calls_inside.append("refund")
        return await super().refund(order, reference)


class WatchedGateway(SandboxGateway):
    calls_inside: list[str]

    def __init__(self, clock: Clock) -> None:
        super().__init__(timedelta(seconds=3), clock)
        self.calls_inside = []

    async def submit(self, order: Order) -> TopUpResult:
        if in_unit_of_work():
            self.calls_inside.append("submit")
        return await super().submit(order)

    async def status(self, order: Order) -> TopUpResult:
        if in_unit_of_work():
            self.calls_inside.append("status")
        return await super().status(order)


async def test_no_unit_of_work_is_held_across_a_provider_or_carrier_call(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    payments, gateway = WatchedPayments(), WatchedGateway(clock)
    services = build_services(
        UnitOfWorkFactory.of(engine),
        clock,
        recharge=RechargeConfig(
            limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
            methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
        ),
        ports=Ports(gateway, {PaymentMethod.SANDBOX: payments}),
    )
    turn = await services.customers.begin_turn(TelegramProfile(1), 1)
    customer = turn.customer
    products = await services.ordering.products(ProductKind.CREDIT)
    product = next(p for p in products if p.price == Money.yuan(50))
    for digits in ("18612345678", "18600000000"):  # completes; fails at the carrier, refunded
        order = await services.ordering.create_order(
            customer.id, 1, parse_phone_number(digits), product.id
        )
        await services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
    payments.mode = SandboxMode.DECLINE
    declined = await services.ordering.create_order(
        customer.id, 1, parse_phone_number("18612345678"), product.id
    )
    with pytest.raises(PaymentDeclined):
        await services.paying.pay_with_provider(customer.id, declined.id, PaymentMethod.SANDBOX)
    clock.now += timedelta(seconds=5)
    await services.paying.recover()
    statuses = [o.status for o in await services.ordering.orders_of(customer.id)]
    assert OrderStatus.COMPLETED in statuses and OrderStatus.REFUNDED in statuses
    assert gateway.submit_calls >= 2
    assert payments.calls_inside == [] and gateway.calls_inside == []


async def test_a_unit_of_work_opened_inside_another_is_refused(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory.of(engine)
    async with uow.read():
        with pytest.raises(NestedUnitOfWorkError):
            async with uow():
                pass
    async with uow():  # one after another is the way
        pass


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_unit_of_work_that_only_reads_holds_no_transaction_on_postgresql(
    engine: AsyncEngine,
) -> None:
    """A reading unit of work costs no BEGIN and ROLLBACK round trips: between its statements
    its connection is idle, not idle in a transaction (as PostgreSQL's activity view shows);
    one that writes holds its transaction until it commits."""
    uow = UnitOfWorkFactory.of(engine)

    async def state(pid: int) -> tuple[str, bool]:
        async with engine.connect() as watcher:
            found = await watcher.execute(
                text(
                    "SELECT state, xact_start IS NOT NULL FROM pg_stat_activity"
                    " WHERE pid = :pid AND datname = current_database()"
                ),
                {"pid": pid},
            )
            row = found.one()
            return str(row[0]), bool(row[1])

    async with uow.read() as reading:
        pid = (await reading.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert await state(pid) == ("idle", False)
    async with uow() as writing:
        pid = (await writing.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert await state(pid) == ("idle in transaction", True)
