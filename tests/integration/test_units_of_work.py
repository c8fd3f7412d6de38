"""A unit of work is never opened inside another, and none is held across a call to a payment
provider or the carrier gateway (a slow carrier would hold a connection and, on SQLite, the
write lock, for every other customer)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxMode, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.database import PoolBudget, create_engine
from domain.persistence.unit_of_work import (
    NestedUnitOfWorkError,
    UnitOfWorkFactory,
    in_unit_of_work,
)
from domain.phone import parse_phone_number
from domain.ports import ChargeOutcome, ChargeResult, TopUpResult
from domain.services.recharge import PaymentDeclined, PaymentUnconfirmed, RechargeConfig
from domain.services.registry import Ports, build_services
from domain.services.ticket_refunds import RefundOutcome
from domain.tickets import Category

SANDBOX = PaymentMethod.SANDBOX


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class WatchedPayments(SandboxPayments):
    """The sandbox provider, noting each call it got and each it got inside a unit of work."""

    called: set[str]
    calls_inside: list[str]
    refusing: bool  # refunds refused while set

    def __init__(self) -> None:
        super().__init__()
        self.called, self.calls_inside, self.refusing = set(), [], False

    def _watch(self, call: str) -> None:
        self.called.add(call)
        if in_unit_of_work():
            self.calls_inside.append(call)

    async def charge(self, order: Order) -> ChargeResult:
        self._watch("charge")
        return await super().charge(order)

    async def status(self, order: Order) -> ChargeResult:
        self._watch("status")
        return await super().status(order)

    async def refund(self, order: Order, reference: str | None) -> bool:
        self._watch("refund")
        return not self.refusing and await super().refund(order, reference)


class WatchedGateway(SandboxGateway):
    """The sandbox carrier (answering "pending" for its first 3 s), noting each call it got and
    each it got inside a unit of work."""

    called: set[str]
    calls_inside: list[str]

    def __init__(self, clock: Clock) -> None:
        super().__init__(timedelta(seconds=3), clock)
        self.called, self.calls_inside = set(), []

    def _watch(self, call: str) -> None:
        self.called.add(call)
        if in_unit_of_work():
            self.calls_inside.append(call)

    async def submit(self, order: Order) -> TopUpResult:
        self._watch("submit")
        return await super().submit(order)

    async def status(self, order: Order) -> TopUpResult:
        self._watch("status")
        return await super().status(order)


async def test_no_unit_of_work_is_held_across_a_provider_or_carrier_call(
    engine: AsyncEngine,
) -> None:
    """Every way the services reach the provider (charge, asking about an unconfirmed charge,
    refund) and the carrier (submit, asking about a pending top-up) is taken, through paying,
    recovery and a ticket's refund, and none is taken inside a unit of work."""
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

    async def order(digits: str = "18612345678") -> Order:
        number = parse_phone_number(digits)
        return await services.ordering.create_order(customer.id, 1, number, product.id)

    for digits in ("18612345678", "18600000000"):  # completes; fails at the carrier, refunded
        await services.paying.pay_with_provider(customer.id, (await order(digits)).id, SANDBOX)
    payments.mode = SandboxMode.DECLINE
    declined = await order()
    with pytest.raises(PaymentDeclined):
        await services.paying.pay_with_provider(customer.id, declined.id, SANDBOX)
    payments.mode = SandboxMode.TIMEOUT
    unconfirmed = await order()
    with pytest.raises(PaymentUnconfirmed):
        await services.paying.pay_with_provider(customer.id, unconfirmed.id, SANDBOX)
    # The provider took the charge after all: recovery asks it and carries the order on.
    payments.charges[unconfirmed.id] = ChargeResult(ChargeOutcome.APPROVED, "late")
    # A top-up the carrier fails while the provider refuses the refund: a ticket refunds it.
    payments.mode = SandboxMode.APPROVE
    refused = await order("18600000000")
    payments.refusing = True
    failed = await services.paying.pay_with_provider(customer.id, refused.id, SANDBOX)
    assert failed.status is OrderStatus.FAILED
    payments.refusing = False
    ticket = await services.support.open_ticket(
        customer.id, 1, Category.TOPUP_MISSING, "no credit", order_id=refused.id
    )
    refund = await services.ticket_refunds.refund(ticket.id, 700, "Li")
    assert refund.outcome is RefundOutcome.REFUNDED
    for _ in range(2):  # the carrier answers "pending" for 3 s after each submit
        clock.now += timedelta(seconds=5)
        await services.paying.recover()
    statuses = {o.id: o.status for o in await services.ordering.orders_of(customer.id)}
    assert statuses[unconfirmed.id] is OrderStatus.COMPLETED
    assert statuses[refused.id] is OrderStatus.REFUNDED
    assert list(statuses.values()).count(OrderStatus.REFUNDED) == 2
    assert payments.called == {"charge", "status", "refund"}
    assert gateway.called == {"submit", "status"}
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


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_report_plans_each_statement_for_its_values_and_leaves_the_connection_as_it_was(
    database_url: str,
) -> None:
    """A dashboard page's sums run where PostgreSQL plans every statement for the values it is
    given and compiles none (a generic plan made the hold-out page half as fast again); the
    settings end with the report, so the next unit of work on the same connection plans as
    usual."""
    engine = create_engine(database_url, pool=PoolBudget(size=1, overflow=0))
    uow = UnitOfWorkFactory.of(engine)
    settings = text(
        "SELECT current_setting('plan_cache_mode'), current_setting('jit'), pg_backend_pid()"
    )
    try:
        async with uow.report() as report:
            planned, compiled, pid = (await report.session.execute(settings)).one()
            assert (planned, compiled) == ("force_custom_plan", "off")
        for unit in (uow.read(), uow()):
            async with unit as after:
                planned, compiled, same = (await after.session.execute(settings)).one()
                assert same == pid  # the very connection the report used
                assert (planned, compiled) == ("auto", "on")
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_report_on_sqlite_reads_while_another_connection_holds_the_write_lock(
    engine: AsyncEngine,
) -> None:
    """A dashboard page never waits for a writer: on SQLite a report takes no write lock."""
    uow = UnitOfWorkFactory.of(engine)
    async with engine.connect() as writer:
        await writer.execute(text("UPDATE customers SET language = language"))  # BEGIN IMMEDIATE
        async with asyncio.timeout(2):
            async with uow.report() as report:
                counts = await report.figures.orders_by_status()
        assert set(counts.values()) == {0}
        await writer.rollback()
