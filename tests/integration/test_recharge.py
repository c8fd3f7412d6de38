"""Recharge and payment on SQLite and PostgreSQL: exactly once, nothing lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxMode, SandboxPayments
from domain.money import Money
from domain.orders import LimitExceeded, Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.tables import PaymentRow, WalletEntryRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.services.recharge import (
    InsufficientBalance,
    NotPayable,
    OrderNotFound,
    PaymentDeclined,
    PaymentNotMatched,
    PaymentUnconfirmed,
    RechargeConfig,
    invoice_payload,
)
from domain.services.registry import Ports, Services, build_services

S = OrderStatus
UNICOM = parse_phone_number("18612345678")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class World:
    """The services with sandboxes the test can steer, on one database."""

    def __init__(self, engine: AsyncEngine, clock: FakeClock, gateway_delay: timedelta) -> None:
        self.engine = engine
        self.clock = clock
        self.payments = SandboxPayments()
        self.gateway = SandboxGateway(gateway_delay, clock)
        config = RechargeConfig(
            limits=RechargeLimits(Money.yuan(1), Money.yuan(500), Money.yuan(1000)),
            methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX, PaymentMethod.TELEGRAM),
        )
        self.services: Services = build_services(
            UnitOfWorkFactory.of(engine),
            clock,
            recharge=config,
            ports=Ports(self.gateway, {PaymentMethod.SANDBOX: self.payments}),
        )

    async def customer(self, telegram_id: int = 1) -> Customer:
        turn = await self.services.customers.begin_turn(TelegramProfile(telegram_id), telegram_id)
        return turn.customer

    async def product_id(self, yuan: int) -> int:
        products = await self.services.ordering.products(ProductKind.CREDIT)
        return next(p.id for p in products if p.price == Money.yuan(yuan))

    async def fund_wallet(self, customer: Customer, yuan: int) -> None:
        order = await self.services.ordering.create_wallet_topup(customer.id, 1, Money.yuan(yuan))
        done = await self.services.paying.pay_with_provider(
            customer.id, order.id, PaymentMethod.SANDBOX
        )
        assert done.status is S.COMPLETED

    async def leave_paid(self, order_id: int) -> None:
        """The order as a crash right after its payment was recorded leaves it: paid."""
        async with UnitOfWorkFactory.of(self.engine)() as uow:
            moved = await uow.orders.move(
                order_id, ["awaiting_payment"], "paid", "test", self.clock()
            )
            assert moved is not None
            await uow.commit()

    async def count(self, table: type, **where: object) -> int:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(getattr(table, name) == value)
        async with self.engine.connect() as connection:
            return int(await connection.scalar(query) or 0)


@pytest.fixture
def world(engine: AsyncEngine) -> World:
    return World(engine, FakeClock(), timedelta(0))


@pytest.fixture
def slow_world(engine: AsyncEngine) -> World:
    return World(engine, FakeClock(), timedelta(seconds=60))


async def test_catalogue_is_in_the_database_with_prices_in_fen(world: World) -> None:
    credit = await world.services.ordering.products(ProductKind.CREDIT)
    assert [p.price.fen for p in credit] == [y * 100 for y in (10, 20, 30, 50, 100, 200, 300, 500)]
    data = await world.services.ordering.products(ProductKind.DATA)
    assert data and all(p.data_mb and p.validity_days for p in data)


async def test_wallet_top_up_then_recharge_from_the_wallet(world: World) -> None:
    customer = await world.customer()
    await world.fund_wallet(customer, 100)
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(50)
    )
    done = await world.services.paying.pay_with_wallet(customer.id, order.id)
    assert done.status is S.COMPLETED and done.completed_at is not None
    assert await world.services.wallet.balance(customer.id) == Money.yuan(50)
    assert await world.services.wallet.ledger_balance(customer.id) == Money.yuan(50)
    history = await world.services.ordering.history(order.id)
    assert [step[1] for step in history] == [
        "created",
        "awaiting_payment",
        "paid",
        "topping_up",
        "completed",
    ]


async def test_a_double_tapped_wallet_payment_charges_and_tops_up_once(world: World) -> None:
    customer = await world.customer()
    await world.fund_wallet(customer, 200)
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(100)
    )
    results = await asyncio.gather(
        *(world.services.paying.pay_with_wallet(customer.id, order.id) for _ in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, NotPayable) for r in results if isinstance(r, BaseException))
    assert await world.services.wallet.balance(customer.id) == Money.yuan(100)
    assert await world.count(WalletEntryRow, kind="payment") == 1
    assert world.gateway.submit_calls == 1


async def test_concurrent_provider_payments_of_one_order_settle_once(world: World) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(30)
    )
    results = await asyncio.gather(
        *(
            world.services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert any(not isinstance(r, BaseException) for r in results)
    assert await world.count(PaymentRow) == 1
    assert world.gateway.submit_calls == 1
    assert (await world.services.ordering.get(order.id)).status is S.COMPLETED


async def test_duplicated_successful_payment_updates_settle_once(world: World) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(20)
    )
    await world.services.paying.start_invoice(customer.id, order.id)
    payload = invoice_payload(order)
    assert await world.services.paying.check_pre_checkout(customer.id, payload, "CNY", 2000) is None

    async def deliver() -> object:
        return await world.services.paying.settle_telegram_payment(
            customer.id, payload, "CNY", 2000, "tg-charge-1", "prov-1"
        )

    await asyncio.gather(*(deliver() for _ in range(20)), return_exceptions=True)
    await deliver()  # a replay later
    assert await world.count(PaymentRow) == 1
    assert await world.services.wallet.balance(customer.id) == Money(0)  # nothing "late" credited
    assert world.gateway.submit_calls == 1
    assert (await world.services.ordering.get(order.id)).status is S.COMPLETED


async def test_a_payment_of_another_amount_never_pays_the_order_and_is_credited_once(
    world: World,
) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(50)
    )
    await world.services.paying.start_invoice(customer.id, order.id)
    for _ in range(2):  # the update, and a replay of it
        with pytest.raises(PaymentNotMatched) as kept:
            await world.services.paying.settle_telegram_payment(
                customer.id, invoice_payload(order), "CNY", 1, "tg-one-fen"
            )
        assert kept.value.credited and kept.value.amount == Money(1)
    assert (await world.services.ordering.get(order.id)).status is S.AWAITING_PAYMENT
    assert await world.count(PaymentRow) == 0
    assert world.gateway.submit_calls == 0
    assert await world.services.wallet.balance(customer.id) == Money(1)


async def test_a_payment_for_no_order_of_the_customers_is_kept_in_their_wallet(
    world: World,
) -> None:
    customer, other = await world.customer(1), await world.customer(2)
    order = await world.services.ordering.create_order(
        other.id, 1, UNICOM, await world.product_id(20)
    )
    for payload in (invoice_payload(order), "order:99999999999999999", "nonsense"):
        with pytest.raises(PaymentNotMatched) as kept:
            await world.services.paying.settle_telegram_payment(
                customer.id, payload, "CNY", 2000, f"tg-{payload}"
            )
        assert kept.value.credited
    assert await world.services.wallet.balance(customer.id) == Money.yuan(60)
    assert await world.services.wallet.balance(other.id) == Money(0)
    with pytest.raises(PaymentNotMatched) as kept:  # a currency the wallet does not hold
        await world.services.paying.settle_telegram_payment(customer.id, "x", "USD", 500, "tg-usd")
    assert not kept.value.credited
    assert await world.services.wallet.balance(customer.id) == Money.yuan(60)


async def test_pre_checkout_refuses_what_cannot_be_paid(world: World) -> None:
    customer, other = await world.customer(1), await world.customer(2)
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(20)
    )
    await world.services.paying.start_invoice(customer.id, order.id)
    payload = invoice_payload(order)
    check = world.services.paying.check_pre_checkout
    assert await check(customer.id, payload, "CNY", 1999) == "amount_changed"
    assert await check(other.id, payload, "CNY", 2000) == "order_not_found"
    assert await check(customer.id, "order:abc", "CNY", 2000) == "order_not_found"
    world.clock.advance(minutes=16)
    assert await check(customer.id, payload, "CNY", 2000) == "expired"


async def test_insufficient_balance_changes_nothing(world: World) -> None:
    customer = await world.customer()
    await world.fund_wallet(customer, 10)
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(50)
    )
    with pytest.raises(InsufficientBalance) as error:
        await world.services.paying.pay_with_wallet(customer.id, order.id)
    assert error.value.balance == Money.yuan(10)
    assert await world.services.wallet.balance(customer.id) == Money.yuan(10)
    assert (await world.services.ordering.get(order.id)).payable
    # Another method still pays it.
    done = await world.services.paying.pay_with_provider(
        customer.id, order.id, PaymentMethod.SANDBOX
    )
    assert done.status is S.COMPLETED


async def test_a_failed_top_up_is_refunded_where_the_money_came_from(world: World) -> None:
    customer = await world.customer()
    await world.fund_wallet(customer, 100)
    failing = parse_phone_number("18600000000")  # the sandbox gateway fails numbers ending 0000
    by_wallet = await world.services.ordering.create_order(
        customer.id, 1, failing, await world.product_id(50)
    )
    done = await world.services.paying.pay_with_wallet(customer.id, by_wallet.id)
    assert done.status is S.REFUNDED and done.failure_reason == "number_not_rechargeable"
    assert await world.services.wallet.balance(customer.id) == Money.yuan(100)

    by_card = await world.services.ordering.create_order(
        customer.id, 1, failing, await world.product_id(20)
    )
    done = await world.services.paying.pay_with_provider(
        customer.id, by_card.id, PaymentMethod.SANDBOX
    )
    assert done.status is S.REFUNDED
    assert by_card.id in world.payments.refunds
    assert await world.services.wallet.balance(customer.id) == Money.yuan(100)


async def test_a_crash_after_payment_is_carried_on_by_the_recovery_sweep(world: World) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(30)
    )
    await world.services.paying.start_invoice(customer.id, order.id)
    # The process dies right after the charge was recorded and the order marked as sent to
    # the carrier, before the gateway was asked.
    settled = await world.services.paying.settle(order.id, PaymentMethod.TELEGRAM, "charge")
    assert settled is not None and settled.status is S.TOPPING_UP
    assert world.gateway.submit_calls == 0
    assert await world.services.paying.recover() == []  # not due to be asked yet
    world.clock.advance(seconds=61)
    moved = await world.services.paying.recover()
    assert [o.status for o in moved] == [S.COMPLETED]
    assert await world.services.paying.recover() == []  # run twice: nothing more
    assert await world.count(PaymentRow, order_id=order.id) == 1


async def test_a_paid_order_left_by_a_crash_is_carried_on_by_the_recovery_sweep(
    world: World,
) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(30)
    )
    await world.services.paying.start_invoice(customer.id, order.id)
    # The process dies between recording a Telegram payment and carrying the order on.
    await world.leave_paid(order.id)
    assert (await world.services.ordering.get(order.id)).status is S.PAID
    moved = await world.services.paying.recover()
    assert [o.status for o in moved] == [S.COMPLETED]
    assert world.gateway.submit_calls == 1
    assert await world.services.paying.recover() == []


async def test_a_pending_top_up_completes_on_a_later_sweep(slow_world: World) -> None:
    world = slow_world
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(30)
    )
    pending = await world.services.paying.pay_with_provider(
        customer.id, order.id, PaymentMethod.SANDBOX
    )
    assert pending.status is S.TOPPING_UP
    assert await world.services.paying.recover() == []  # not due to be asked again yet
    world.clock.advance(seconds=61)
    assert (await world.services.fulfilment.refresh(order.id)).status is S.COMPLETED
    assert world.gateway.submit_calls == 1


async def test_a_refund_that_failed_is_retried_by_the_sweep(world: World) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, parse_phone_number("13800000000"), await world.product_id(20)
    )

    async def refused(order: Order, reference: str | None) -> bool:
        return False

    # The provider refuses refunds for a while: replaced on the instance, restored by `del`.
    world.payments.refund = refused  # type: ignore[method-assign]
    stuck = await world.services.paying.pay_with_provider(
        customer.id, order.id, PaymentMethod.SANDBOX
    )
    assert stuck.status is S.FAILED
    del world.payments.refund  # the provider is back
    moved = await world.services.paying.recover()
    assert [o.status for o in moved] == [S.REFUNDED]


async def test_unpaid_orders_expire_and_a_late_payment_goes_to_the_wallet(world: World) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(20)
    )
    await world.services.paying.start_invoice(customer.id, order.id)
    world.clock.advance(minutes=15)
    assert [o.id for o in await world.services.fulfilment.expire_due()] == [order.id]
    assert await world.services.fulfilment.expire_due() == []
    with pytest.raises(NotPayable):
        await world.services.paying.pay_with_wallet(customer.id, order.id)
    late = await world.services.paying.settle_telegram_payment(
        customer.id, invoice_payload(order), "CNY", 2000, "tg-late"
    )
    assert late.status is S.EXPIRED
    assert await world.services.wallet.balance(customer.id) == Money.yuan(20)
    await world.services.paying.settle_telegram_payment(
        customer.id, invoice_payload(order), "CNY", 2000, "tg-late"
    )
    assert await world.services.wallet.balance(customer.id) == Money.yuan(20)


async def test_declined_and_unanswered_payments_leave_the_order_payable(world: World) -> None:
    customer = await world.customer()
    order = await world.services.ordering.create_order(
        customer.id, 1, UNICOM, await world.product_id(20)
    )
    world.payments.mode = SandboxMode.DECLINE
    with pytest.raises(PaymentDeclined):
        await world.services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
    world.payments.mode = SandboxMode.TIMEOUT
    with pytest.raises(PaymentUnconfirmed):
        await world.services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
    assert (await world.services.ordering.get(order.id)).status is S.AWAITING_PAYMENT
    assert await world.count(PaymentRow) == 0
    # The provider later says it was approved after all: the sweep settles and tops up.
    world.payments.mode = SandboxMode.APPROVE
    await world.payments.charge(await world.services.ordering.get(order.id))
    await world.services.paying.recover()
    assert (await world.services.ordering.get(order.id)).status is S.COMPLETED


async def test_nobody_can_see_or_act_on_another_customers_order(world: World) -> None:
    owner, intruder = await world.customer(1), await world.customer(2)
    await world.fund_wallet(intruder, 100)
    order = await world.services.ordering.create_order(
        owner.id, 1, UNICOM, await world.product_id(20)
    )
    for attempt in (
        world.services.ordering.order_for(intruder.id, order.id),
        world.services.paying.pay_with_wallet(intruder.id, order.id),
        world.services.paying.pay_with_provider(intruder.id, order.id, PaymentMethod.SANDBOX),
        world.services.paying.cancel(intruder.id, order.id),
        world.services.ordering.repeat(intruder.id, 2, order.id),
    ):
        with pytest.raises(OrderNotFound):
            await attempt
    assert (await world.services.ordering.get(order.id)).status is S.CREATED
    assert await world.services.wallet.balance(intruder.id) == Money.yuan(100)


async def test_the_daily_limit_counts_todays_orders_in_china_time(world: World) -> None:
    customer = await world.customer()
    product = await world.product_id(500)
    await world.services.ordering.create_order(customer.id, 1, UNICOM, product)
    await world.services.ordering.create_order(customer.id, 1, UNICOM, product)
    with pytest.raises(LimitExceeded) as error:
        await world.services.ordering.create_order(customer.id, 1, UNICOM, product)
    assert error.value.reason == "daily"
    world.clock.advance(hours=14)  # past midnight in Beijing
    await world.services.ordering.create_order(customer.id, 1, UNICOM, product)


async def test_the_sweep_carries_on_many_interrupted_orders(world: World) -> None:
    customer = await world.customer()
    product = await world.product_id(10)
    ids = []
    for _ in range(20):
        order = await world.services.ordering.create_order(customer.id, 1, UNICOM, product)
        await world.services.paying.start_invoice(customer.id, order.id)
        await world.leave_paid(order.id)  # as a crash after the payment leaves it
        ids.append(order.id)
    # Two workers sweep at the same time: each order is topped up once.
    await asyncio.gather(world.services.paying.recover(), world.services.paying.recover())
    assert {(await world.services.ordering.get(i)).status for i in ids} == {S.COMPLETED}
    assert world.gateway.submit_calls == 20
