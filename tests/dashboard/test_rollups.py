"""The dashboard's roll-ups, folded from the order changes the database notes: concurrent
completions each count once, however many folds run at once while they complete (SQLite and
PostgreSQL), and on any orders the roll-up figures equal the figures worked out from the
orders themselves."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.allowances import UNLIMITED
from domain.campaign_file import parse_campaign_file
from domain.figures import Period, Sales
from domain.holdout import GroupOutcome, Uplift, in_control, uplift
from domain.money import Money
from domain.orders import OrderStatus
from domain.persistence.database import create_engine
from domain.persistence.holdout_buckets import backfill_holdout_buckets
from domain.persistence.loyalty_repositories import OfferClaimRepository
from domain.persistence.rollup_tables import (
    EVERY_RECHARGE,
    CustomerFunnelRow,
    HoldoutBucketRow,
    RechargeCustomerHourRow,
    RechargeCustomerRow,
    RechargeHourRow,
    RollupChangeRow,
)
from domain.persistence.tables import CustomerRow, OfferClaimRow, OfferRow, OrderRow, PaymentRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.repositories import NewPayment
from domain.services.dashboard_figures import DashboardFigures
from tests.conftest import migrated_sqlite_template as _migrated_template
from tests.dashboard.data import add_campaign, add_customer, add_order, put, rebuild_rollups
from tests.integration.test_core_statements import an_order
from tests.integration.test_money_limits import CAMPAIGN, World

ORDERS_AT_ONCE = 8
TOPPING_UP = OrderStatus.TOPPING_UP


async def test_concurrent_completed_recharges_each_add_one_to_the_roll_ups(
    engine: AsyncEngine,
) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    await world.services.campaigns.load(parse_campaign_file(CAMPAIGN))
    customer = await world.customer()
    orders = [await world.order(customer, 100) for _ in range(ORDERS_AT_ONCE)]
    done = await world.pay_all_at_once(customer, orders)  # completed at the same moment
    assert {order.status for order in done} == {OrderStatus.COMPLETED}

    period = Period(datetime(2026, 11, 5, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC))
    figures = DashboardFigures(UnitOfWorkFactory.of(engine))
    overview = await figures.overview(period)
    paid = sum(order.amount.fen for order in done)
    assert (overview.sales.recharges, overview.sales.fen) == (ORDERS_AT_ONCE, paid)
    assert overview.sales.paying_customers == overview.sales.repeat_customers == 1
    assert [(h.count, h.fen) for h in overview.by_hour] == [(ORDERS_AT_ONCE, paid)]

    # The campaign's own roll-up: the orders that took its offers (each granted with it).
    async with engine.connect() as connection:
        campaign_id = await connection.scalar(select(OfferRow.campaign_id).limit(1))
        took = await connection.scalar(
            select(func.count(func.distinct(OfferClaimRow.order_id))).where(
                OfferClaimRow.status == "granted"
            )
        )
        rows = await connection.scalar(select(func.count()).select_from(RechargeHourRow))
    assert campaign_id is not None and took  # the first order's bonus, two doubled points
    assert (await figures.overview(period, campaign_id)).sales.recharges == took
    assert rows == 2  # one hour, for every recharge and for the campaign


# -- roll-ups against the orders, on any orders -------------------------------------------------

BASE = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Made:
    customer: int  # which of three customers
    minute: int  # completes this many minutes after BASE (or would have)
    fen: int
    completed: bool
    took_offer: bool


made_orders = st.lists(
    st.builds(
        Made,
        st.integers(0, 2),
        st.integers(0, 6 * 60 - 1),
        st.sampled_from([100, 1_000, 5_000]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=12,
)


def _expected(orders: list[Made], period: Period, campaign: bool) -> tuple[Sales, list[tuple]]:
    counted = [
        o
        for o in orders
        if o.completed
        and (o.took_offer or not campaign)
        and period.start <= BASE + timedelta(minutes=o.minute) < period.end
    ]
    per_customer: dict[int, int] = {}
    hours: dict[datetime, list[int]] = {}
    for o in counted:
        per_customer[o.customer] = per_customer.get(o.customer, 0) + 1
        hour = BASE + timedelta(hours=o.minute // 60)
        hours.setdefault(hour, [0, 0])
        hours[hour][0] += 1
        hours[hour][1] += o.fen
    sales = Sales(
        len(counted),
        sum(o.fen for o in counted),
        len(per_customer),
        sum(1 for n in per_customer.values() if n >= 2),
    )
    return sales, [(hour, n, fen) for hour, (n, fen) in sorted(hours.items())]


async def fold_all(engine: AsyncEngine) -> None:
    """Fold every noted change into the roll-ups, as the sweep does."""
    figures = DashboardFigures(UnitOfWorkFactory.of(engine))
    while await figures.fold():
        pass


async def complete_orders(
    engine: AsyncEngine, orders: list[Made], days: int = 1, folds: Sequence[bool] = ()
) -> int:
    """Three customers and a campaign (of `days` days) with an offer; each order completed (or
    failed) through the order's own move, in the list's order (so not in the order of their
    times), the changes folded after the orders `folds` names; the campaign's id."""
    customers = [await add_customer(engine, 1 + i, BASE - timedelta(days=1)) for i in range(3)]
    campaign = await add_campaign(engine, "r", BASE, BASE + timedelta(days=days))
    offer = await put(
        engine, OfferRow, campaign_id=campaign, code="r-1", kind="cashback", params={}
    )  # fmt: skip
    uow = UnitOfWorkFactory.of(engine)
    for n, made in enumerate(orders):
        at = BASE + timedelta(minutes=made.minute)
        order = await put(
            engine, OrderRow, customer_id=customers[made.customer], purpose="recharge",
            status="topping_up", amount_fen=made.fen, currency="CNY", created_at=at,
            expires_at=at, updated_at=at,
        )  # fmt: skip
        if made.took_offer:
            await put(
                engine, OfferClaimRow, offer_id=offer, order_id=order,
                customer_id=customers[made.customer], cashback_fen=0, status="held", at=at,
            )  # fmt: skip
        async with uow() as unit:
            status = "completed" if made.completed else "failed"
            completed_at = at if made.completed else None
            moved = await unit.orders.move(
                order, ["topping_up"], status, "t", at, completed_at=completed_at
            )
            assert moved is not None
            if made.completed:
                await OfferClaimRepository(unit).grant_all(order)
            await unit.commit()
        if n < len(folds) and folds[n]:
            await fold_all(engine)
    return campaign


async def _check(
    engine: AsyncEngine, orders: list[Made], campaign: int | None, windows: list[tuple[int, int]]
) -> None:
    """The overview's sales of each (start hour, length) window, for every recharge and for
    the campaign (if any), equal those worked out from the orders."""
    figures = DashboardFigures(UnitOfWorkFactory.of(engine))
    for start, length in windows:
        period = Period(BASE + timedelta(hours=start), BASE + timedelta(hours=start + length))
        for campaign_id in (None, campaign) if campaign is not None else (None,):
            overview = await figures.overview(period, campaign_id)
            sales, hours = _expected(orders, period, campaign_id is not None)
            assert overview.sales == sales, (start, length, campaign_id)
            assert [(h.hour, h.count, h.fen) for h in overview.by_hour] == hours


async def _compare(path: Path, orders: list[Made], start: int, length: int) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        campaign = await complete_orders(engine, orders)
        await _check(engine, orders, campaign, [(start, length)])
        # Rebuilt from the orders (as the migrations back-fill), the roll-ups say the same.
        await rebuild_rollups(engine)
        await _check(engine, orders, campaign, [(start, length)])
    finally:
        await engine.dispose()


@settings(max_examples=25, deadline=None)
@given(made_orders, st.integers(0, 5), st.integers(1, 6))
def test_roll_up_figures_equal_the_figures_of_the_orders(
    orders: list[Made], start: int, length: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "shop.db"
        shutil.copy(_migrated_template(), path)
        asyncio.run(_compare(path, orders, start, length))


# Completions out of the order of their times: each customer's hours are linked as they come,
# a late one between two others. Customer 0 recharges in hours 4, 1, 2 (twice), 5 and 0;
# customer 1 once in hour 3 and twice in hour 1; customer 2 only fails.
OUT_OF_ORDER = [
    Made(0, 4 * 60 + 5, 1_000, True, True),
    Made(0, 1 * 60 + 10, 100, True, False),
    Made(1, 3 * 60 + 1, 5_000, True, True),
    Made(0, 2 * 60 + 30, 100, True, True),
    Made(2, 2 * 60 + 31, 100, False, True),
    Made(0, 2 * 60 + 40, 1_000, True, False),
    Made(1, 1 * 60 + 59, 100, True, False),
    Made(0, 5 * 60 + 0, 5_000, True, True),
    Made(1, 1 * 60 + 0, 1_000, True, True),
    Made(0, 0 * 60 + 1, 100, True, True),
]
EVERY_WINDOW = [(start, length) for start in range(6) for length in range(1, 7 - start)]


async def test_customers_of_every_period_equal_those_of_the_orders(engine: AsyncEngine) -> None:
    campaign = await complete_orders(engine, OUT_OF_ORDER)
    await _check(engine, OUT_OF_ORDER, campaign, EVERY_WINDOW)
    await rebuild_rollups(engine)
    await _check(engine, OUT_OF_ORDER, campaign, EVERY_WINDOW)


async def _complete_at_once_while_folding(
    engine: AsyncEngine, orders: list[tuple[int, int]], folds: int
) -> DashboardFigures:
    """Orders of (customer, minute after BASE), each completed a minute later, all at once,
    while `folds` folds run over and over; the figures, with nothing left to fold."""
    ids = [
        await add_order(engine, customer, 1_000, BASE + timedelta(minutes=minute), TOPPING_UP)
        for customer, minute in orders
    ]
    uow = UnitOfWorkFactory.of(engine)
    figures = DashboardFigures(uow)
    completing = True

    async def complete(order: int, minute: int) -> None:
        at = BASE + timedelta(minutes=minute + 1)
        async with uow() as unit:
            moved = await unit.orders.move(
                order, ["topping_up"], "completed", "t", at, completed_at=at
            )
            assert moved is not None
            await unit.commit()

    async def fold_over_and_over() -> int:
        rounds = 0
        while completing:
            await figures.fold()
            rounds += 1
            await asyncio.sleep(0)
        return rounds

    folding = [asyncio.create_task(fold_over_and_over()) for _ in range(folds)]
    await asyncio.gather(*(complete(order, m) for order, (_, m) in zip(ids, orders, strict=True)))
    completing = False
    assert all(rounds > 0 for rounds in await asyncio.gather(*folding))
    while await figures.fold():
        pass
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(RollupChangeRow)) == 0
    return figures


async def test_concurrent_completions_of_one_customer_in_different_hours_are_each_counted(
    engine: AsyncEngine,
) -> None:
    """Completions of one customer in different hours, all at once (and not in hour order),
    folded while they complete: none is lost and each period counts the customer once, as its
    orders say."""
    customer = await add_customer(engine, 1, BASE - timedelta(days=1))
    minutes = [5 * 60, 60, 4 * 60 + 30, 0, 3 * 60, 2 * 60 + 10, 4 * 60 + 40, 60 + 5]
    await _complete_at_once_while_folding(engine, [(customer, m) for m in minutes], folds=2)
    made = [Made(0, m + 1, 1_000, True, False) for m in minutes]
    await _check(engine, made, None, EVERY_WINDOW)
    async with engine.connect() as connection:
        kept = (await connection.execute(select(RechargeCustomerRow.recharges))).scalars().all()
    assert kept == [len(minutes)]


async def test_folds_at_once_with_completions_count_each_completion_exactly_once(
    engine: AsyncEngine,
) -> None:
    """Many customers' recharges completing at once while two folds run over and over: each
    completion is in every roll-up once (none lost by a fold that deleted a change committed
    while it ran, none counted by two folds), and the customers' hours are linked as their
    orders say."""
    customers = [await add_customer(engine, 10 + n, BASE - timedelta(days=1)) for n in range(5)]
    orders = [(n % 5, (n * 37) % (6 * 60)) for n in range(60)]
    await _complete_at_once_while_folding(
        engine, [(customers[c], minute) for c, minute in orders], folds=2
    )
    async with engine.connect() as connection:
        hours = await connection.execute(
            select(func.sum(RechargeHourRow.recharges), func.sum(RechargeHourRow.fen))
        )
        customer_hours = await connection.scalar(
            select(func.sum(RechargeCustomerHourRow.recharges))
        )
        all_time = await connection.scalar(select(func.sum(RechargeCustomerRow.recharges)))
        funnels = (
            await connection.execute(
                select(
                    func.sum(CustomerFunnelRow.recharge_orders),
                    func.sum(CustomerFunnelRow.completed),
                )
            )
        ).one()
        assert (
            await connection.scalar(
                select(func.count()).where(RechargeHourRow.campaign_id != EVERY_RECHARGE)
            )
            == 0
        )
    assert tuple(hours.one()) == (len(orders), 1_000 * len(orders))
    assert customer_hours == all_time == len(orders)
    assert tuple(funnels) == (len(orders), len(orders))
    made = [Made(c, minute + 1, 1_000, True, False) for c, minute in orders]
    await _check(engine, made, None, EVERY_WINDOW)


# -- hold-out groups from kept buckets ----------------------------------------------------------


async def direct_holdout(engine: AsyncEngine, period: Period, code: str, percent: int) -> Uplift:
    """The hold-out figures worked out from the customers and orders themselves: every
    customer who had started by the period's end, in its group, with its completed recharges
    in the period."""
    async with engine.connect() as connection:
        customers = (
            await connection.execute(
                select(CustomerRow.id).where(CustomerRow.registered_at < period.end)
            )
        ).scalars()
        orders = (
            await connection.execute(
                select(OrderRow.customer_id, OrderRow.amount_fen).where(
                    OrderRow.status == "completed",
                    OrderRow.purpose == "recharge",
                    OrderRow.completed_at >= period.start,
                    OrderRow.completed_at < period.end,
                )
            )
        ).all()
        fen: dict[int, int] = {}
        for customer_id, amount in orders:
            fen[customer_id] = fen.get(customer_id, 0) + amount
        groups = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
        for customer_id in customers:
            group = groups[in_control(code, customer_id, percent)]
            spent = fen.get(customer_id)
            group[0] += 1
            group[1] += 1 if spent is not None else 0
            group[2] += spent or 0
            group[3] += (spent or 0) ** 2
    return uplift(GroupOutcome(*groups[False]), GroupOutcome(*groups[True]))


async def test_hold_out_groups_from_kept_buckets_equal_those_of_the_orders(
    engine: AsyncEngine,
) -> None:
    """Customers who started at different times, some recharging more than once and some
    outside the period, one not seen since before it and one who started after it: the first
    read hashes every customer (and keeps the buckets), the next ones read the kept buckets,
    and a customer who came since is hashed again; each read equals the figures worked out
    from the orders, every customer who had started by the period's end in its group."""
    code, percent = "held", 30
    campaign = await add_campaign(engine, code, BASE, BASE + timedelta(days=5), percent)
    for n in range(60):
        registered = BASE - timedelta(days=n % 4)
        seen = BASE + timedelta(hours=n % 30)
        customer = await add_customer(engine, 500 + n, registered, seen)
        for k in range(n % 4):  # 0 to 3 recharges, some before the period
            at = BASE + timedelta(hours=k * 7 + n % 5 - 6)
            await add_order(engine, customer, 1_000 * (1 + (n + k) % 3), at)
    # Not seen in the period, yet in its group; and one who started after it, not counted.
    dormant = await add_customer(engine, 700, BASE - timedelta(days=9), BASE - timedelta(days=8))
    await add_order(engine, dormant, 2_000, BASE - timedelta(days=8))
    later = await add_customer(engine, 701, BASE + timedelta(days=2))
    await add_order(engine, later, 2_000, BASE + timedelta(days=2))
    figures = DashboardFigures(UnitOfWorkFactory.of(engine))
    period = Period(BASE, BASE + timedelta(days=1))
    expected = await direct_holdout(engine, period, code, percent)
    assert expected.treated.customers + expected.control.customers == 61
    assert expected.control.recharged and expected.treated.fen_squared
    assert await figures.holdout(period, campaign) == expected  # hashed, then kept
    async with engine.connect() as connection:
        kept = await connection.scalar(select(func.count()).select_from(HoldoutBucketRow))
    assert kept == 62  # every customer's, the one who started later too
    assert await figures.holdout(period, campaign) == expected  # from the kept buckets
    newcomer = await add_customer(engine, 999, BASE, BASE + timedelta(hours=2))
    await add_order(engine, newcomer, 5_000, BASE + timedelta(hours=3))
    expected = await direct_holdout(engine, period, code, percent)
    assert await figures.holdout(period, campaign) == expected
    # The buckets as the migration back-fills them give the same.
    async with engine.begin() as connection:
        await connection.execute(delete(HoldoutBucketRow))
        await connection.run_sync(backfill_holdout_buckets)
    assert await figures.holdout(period, campaign) == expected
    # A customer whose bucket is lost (not the newest) is found and hashed again.
    async with engine.begin() as connection:
        await connection.execute(delete(HoldoutBucketRow).where(HoldoutBucketRow.customer_id == 3))
    assert await figures.holdout(period, campaign) == expected


# -- the customers' funnels -----------------------------------------------------------------------

STARTERS = 8  # one customer starts every 6 hours from BASE


async def _direct_funnel(engine: AsyncEngine, period: Period) -> list[int]:
    """Ordered, paid, completed and again of the period's starters, from their orders."""
    async with engine.connect() as connection:
        cohort = set(
            (
                await connection.execute(
                    select(CustomerRow.id).where(
                        CustomerRow.registered_at >= period.start,
                        CustomerRow.registered_at < period.end,
                    )
                )
            ).scalars()
        )
        orders = (
            await connection.execute(
                select(OrderRow.customer_id, OrderRow.status, PaymentRow.id)
                .outerjoin(PaymentRow, PaymentRow.order_id == OrderRow.id)
                .where(OrderRow.purpose == "recharge")
            )
        ).all()
    per_customer: dict[int, list[int]] = {}
    for customer_id, status, payment in orders:
        if customer_id in cohort:
            counts = per_customer.setdefault(customer_id, [0, 0])
            counts[0] += payment is not None
            counts[1] += status == "completed"
    steps = [len(per_customer)]
    steps.append(sum(1 for paid, _ in per_customer.values() if paid))
    steps.append(sum(1 for _, done in per_customer.values() if done >= 1))
    steps.append(sum(1 for _, done in per_customer.values() if done >= 2))
    return steps


async def test_funnels_of_every_period_equal_those_of_the_orders(engine: AsyncEngine) -> None:
    """Starters with no order, an unpaid one, paid and completed ones, a wallet top-up (not a
    recharge), orders placed, paid and completed all at once: each period's funnel of every
    campaign, kept as the orders are written, equals the one worked out from the orders; and
    so does the funnel rebuilt from them (as the migration back-fills it)."""
    uow = UnitOfWorkFactory.of(engine)

    async def place(customer: int, purpose: str = "recharge") -> int:
        async with uow() as unit:
            made = await unit.orders.add(
                an_order(customer, purpose=purpose, created_at=BASE), "t", UNLIMITED
            )
            await unit.commit()
        return made.id

    async def pay(order: int) -> None:
        async with uow() as unit:
            await unit.payments.add(order, NewPayment("wallet", None, BASE, None, 3000, "CNY"))
            await unit.commit()

    async def complete(order: int) -> None:
        async with uow() as unit:
            moved = await unit.orders.move(
                order, ["created"], "completed", "t", BASE, completed_at=BASE
            )
            assert moved is not None
            await unit.commit()

    for n in range(STARTERS):
        customer = await add_customer(engine, 700 + n, BASE + timedelta(hours=6 * n))
        if n % 4 == 1:
            await place(customer)  # ordered, never paid
        elif n % 4 == 2:
            order = await place(customer)
            await pay(order)
            await complete(order)
            await pay(await place(customer, "wallet_topup"))
        elif n % 4 == 3:  # several at once: none of them lost
            orders = await asyncio.gather(*(place(customer) for _ in range(ORDERS_AT_ONCE)))
            await asyncio.gather(*(pay(order) for order in orders[1:]))
            await asyncio.gather(*(complete(order) for order in orders[2:]))
    figures = DashboardFigures(uow)
    windows = [(a, b) for a in range(STARTERS) for b in range(a + 1, STARTERS + 1)]
    for rebuilt in (False, True):
        if rebuilt:
            await rebuild_rollups(engine)
        for a, b in windows:
            period = Period(BASE + timedelta(hours=6 * a), BASE + timedelta(hours=6 * b))
            steps = [step.customers for step in (await figures.funnel(period)).steps]
            assert steps[0] == b - a  # started
            assert steps[3:] == await _direct_funnel(engine, period), (a, b, rebuilt)
    async with engine.connect() as connection:
        kept = (
            await connection.execute(
                select(
                    CustomerFunnelRow.recharge_orders,
                    CustomerFunnelRow.paid_orders,
                    CustomerFunnelRow.completed,
                ).order_by(CustomerFunnelRow.customer_id)
            )
        ).all()
    expected = [(1, 0, 0), (1, 1, 1), (ORDERS_AT_ONCE, ORDERS_AT_ONCE - 1, ORDERS_AT_ONCE - 2)]
    assert [tuple(row) for row in kept] == expected * (STARTERS // 4)
