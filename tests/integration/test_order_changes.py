"""An unpaid order changes in place (one number) on SQLite and PostgreSQL: adding the data pack,
a coupon or taking the pack off re-prices the same order by one conditional update, so that
concurrent taps and a payment racing them never pay a stale price, never apply two changes on
the same stale order, and the customer's daily total always matches the order's final amount.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.allowances import daily_scope
from domain.customers import Customer
from domain.orders import LimitExceeded, Order, OrderStatus
from domain.persistence.database import create_engine
from domain.persistence.repositories import OrderChange
from domain.persistence.tables import AllowanceRow, OrderEventRow, PaymentRow, WalletEntryRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.recharge import RechargeError
from tests.integration.test_bundles import Shop

S = OrderStatus
PACK_PRICE = 2500  # the ¥30 pack less the bundle's ¥5
COUPON = 300  # SAVE3


@pytest.fixture
async def second_engine(database_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """Another process's engine on the same database."""
    other = create_engine(database_url)
    try:
        yield other
    finally:
        await other.dispose()


async def _allowance(engine: AsyncEngine, customer: Customer, order: Order) -> int:
    scope = daily_scope(order.purpose.value, order.created_at)
    async with engine.connect() as connection:
        used = await connection.scalar(
            select(AllowanceRow.used).where(
                AllowanceRow.customer_id == customer.id, AllowanceRow.scope == scope
            )
        )
    return int(used or 0)


async def _paid(engine: AsyncEngine, order_id: int) -> tuple[int | None, int | None]:
    """What the order's payment says it took, and what the wallet was debited for it."""
    async with engine.connect() as connection:
        payment = await connection.scalar(
            select(PaymentRow.amount_fen).where(PaymentRow.order_id == order_id)
        )
        debit = await connection.scalar(
            select(WalletEntryRow.amount_fen).where(
                WalletEntryRow.idempotency_key == f"pay:{order_id}"
            )
        )
    return payment, (-debit if debit is not None else None)


async def test_changes_keep_one_order_number_and_the_daily_total_follows_the_price(
    engine: AsyncEngine,
) -> None:
    shop = Shop(engine)
    await shop.load()
    customer = await shop.customer()
    order = await shop.order(customer, 100)
    pack = await shop.pack_id()
    bundled = await shop.services.ordering.add_bundle(customer.id, order.id, pack)
    coupon = await shop.services.ordering.apply_coupon(customer.id, order.id, "save3")
    plain = await shop.services.ordering.remove_bundle(customer.id, order.id)
    assert {o.number for o in (order, bundled, coupon, plain)} == {order.number}
    assert [o.amount.fen for o in (order, bundled, coupon, plain)] == [10000, 12500, 12200, 9700]
    assert await _allowance(engine, customer, order) == 9700
    history = await shop.services.ordering.history(order.id)
    assert [cause for _, _, cause in history] == [
        "customer",
        "pack data-5g-30d added: ¥100.00 -> ¥125.00",
        "coupon SAVE3: ¥125.00 -> ¥122.00",
        "pack data-5g-30d removed: ¥122.00 -> ¥97.00",
    ]
    assert [o.id for o in await shop.services.ordering.orders_of(customer.id)] == [order.id]


async def test_a_change_read_before_another_write_never_applies(engine: AsyncEngine) -> None:
    shop = Shop(engine)
    await shop.load()
    uows = UnitOfWorkFactory.of(engine)
    customer = await shop.customer()
    order = await shop.order(customer, 50)
    async with uows.read() as uow:
        stale = await uow.orders.get(order.id)
    assert stale is not None
    await shop.services.ordering.add_bundle(customer.id, order.id, await shop.pack_id())
    change = OrderChange(amount_fen=4700, list_price_fen=5000, quote=None, coupon_code="SAVE3")
    async with uows() as uow:
        changed = await uow.orders.change_unpaid(stale, change, "stale", shop.clock(), 10**8)
        await uow.commit()
    assert changed is None  # read before the pack was added: applies nothing
    now = await shop.services.ordering.get(order.id)
    assert (now.amount.fen, now.bundle is not None) == (7500, True)

    async with uows.read() as uow:
        before_payment = await uow.orders.get(order.id)
    assert before_payment is not None
    await shop.fund_wallet(customer, 100)
    paid = await shop.services.paying.pay_with_wallet(customer.id, order.id)
    assert paid.status is S.COMPLETED
    change = OrderChange(amount_fen=1, list_price_fen=8000, quote=None, coupon_code=None)
    async with uows() as uow:
        assert (
            await uow.orders.change_unpaid(before_payment, change, "x", shop.clock(), 10**8) is None
        )
    assert await _paid(engine, order.id) == (7500, 7500)  # never re-priced once paid


async def test_a_rise_over_the_daily_limit_changes_nothing(engine: AsyncEngine) -> None:
    shop = Shop(engine)
    await shop.load()
    uows = UnitOfWorkFactory.of(engine)
    customer = await shop.customer()
    order = await shop.order(customer, 50)
    async with uows.read() as uow:
        row = await uow.orders.get(order.id)
    assert row is not None
    change = OrderChange(amount_fen=7500, list_price_fen=8000, quote=None, coupon_code=None)
    async with uows() as uow:
        with pytest.raises(LimitExceeded):
            await uow.orders.change_unpaid(row, change, "pack", shop.clock(), 6000)
    assert (await shop.services.ordering.get(order.id)).amount.fen == 5000
    assert await _allowance(engine, customer, order) == 5000
    async with engine.connect() as connection:
        causes = await connection.scalars(
            select(OrderEventRow.cause).where(OrderEventRow.order_id == order.id)
        )
        assert list(causes) == ["customer"]


async def test_concurrent_changes_and_a_payment_never_pay_or_change_on_stale_data(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    # Two processes over one database, each with its own services.
    one, two = Shop(engine), Shop(second_engine)
    await one.load()
    pack = await one.pack_id()
    for attempt in range(12):
        customer = await one.customer(100 + attempt)
        await one.fund_wallet(customer, 500)
        order = await one.order(customer, 100)
        taps = [
            one.services.ordering.add_bundle(customer.id, order.id, pack),
            two.services.ordering.apply_coupon(customer.id, order.id, "SAVE3"),
            two.services.ordering.add_bundle(customer.id, order.id, pack),  # a double tap
            one.services.ordering.remove_bundle(customer.id, order.id),
            two.services.paying.pay_with_wallet(customer.id, order.id),
        ]
        turn = attempt % len(taps)
        results = await asyncio.gather(*(taps[turn:] + taps[:turn]), return_exceptions=True)
        results = results[-turn:] + results[:-turn] if turn else results
        for result in results:  # a refusal the customer is told, never anything else
            assert isinstance(result, Order | RechargeError), repr(result)
        added, couponed, added_again, removed, payment = results

        final = await one.services.ordering.get(order.id)
        recharges = [o for o in await one.services.ordering.orders_of(customer.id) if o.carrier]
        assert [o.id for o in recharges] == [order.id]  # one order, one number
        # Each change that applied started from the price the one before left, and only the
        # changes the customer was told about applied.
        changes = [
            cause for _, _, cause in await one.services.ordering.history(order.id) if "->" in cause
        ]
        prices = ["¥100.00"]
        for cause in changes:
            before, after = cause.split(": ", 1)[1].split(" -> ")
            assert before == prices[-1], changes
            prices.append(after)
        applied = [r for r in (added, couponed, added_again, removed) if isinstance(r, Order)]
        assert len(changes) == len(applied)
        assert prices[-1] == final.amount.format()
        # The order is priced as its terms say: every change that applied was on fresh data.
        expected = (
            10000 + (PACK_PRICE if final.bundle else 0) - (COUPON if final.quote_has_coupon else 0)
        )
        assert final.amount.fen == expected
        if isinstance(couponed, Order):
            assert final.quote_has_coupon  # an applied coupon is never lost by a stale write
        paid, debited = await _paid(engine, order.id)
        if isinstance(payment, Order):
            assert final.status in (S.COMPLETED, S.TOPPING_UP, S.PAID)
            assert paid == debited == final.amount.fen  # at the price the order has
        else:
            assert (paid, debited) == (None, None)
            assert final.status is S.CREATED
        assert await _allowance(engine, customer, order) == final.amount.fen
