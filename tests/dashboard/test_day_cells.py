"""Paying and repeat customers of periods over several days, read from the day cells of their
whole UTC days and the customer hour rows of the hours around them: on any orders, completed in
any order, every period's figures equal those worked out from the orders themselves (SQLite and
PostgreSQL), as kept by the completions and as rebuilt from the hour rows by the back-fill."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.figures import Period
from domain.persistence.day_rollups import backfill_days
from domain.persistence.rollup_tables import RechargeCustomerDayRow, RechargeDayCellRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from tests.conftest import run_example
from tests.dashboard.data import rebuild_rollups
from tests.dashboard.test_rollups import BASE, Made, _expected, complete_orders, fold_all

DAYS = 4
HOURS = DAYS * 24

orders_over_days = st.lists(
    st.builds(
        Made,
        st.integers(0, 2),
        st.integers(0, HOURS * 60 - 1),
        st.sampled_from([100, 1_000, 5_000]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=16,
)
# (first hour, length in hours) from BASE, a UTC midnight: periods of whole days, of none, and
# of whole days with hours before, after or both.
windows = st.lists(st.tuples(st.integers(0, HOURS - 1), st.integers(1, HOURS)), max_size=6)
ALWAYS = [(0, HOURS), (0, 24), (24, 48), (12, 48), (13, 71), (23, 26), (1, 94), (30, 60)]


async def _check_sales(
    engine: AsyncEngine, orders: list[Made], campaign: int, periods: list[tuple[int, int]]
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    async with uow.read() as unit:
        for start, length in periods:
            period = Period(BASE + timedelta(hours=start), BASE + timedelta(hours=start + length))
            for campaign_id in (None, campaign):
                sales = await unit.figures.sales(period, campaign_id)
                expected, _ = _expected(orders, period, campaign_id is not None)
                assert sales == expected, (start, length, campaign_id)


async def _kept_and_rebuilt(
    engine: AsyncEngine, orders: list[Made], periods: list[tuple[int, int]], folds: list[bool]
) -> None:
    campaign = await complete_orders(engine, orders, DAYS, folds)
    await fold_all(engine)
    await _check_sales(engine, orders, campaign, periods)
    kept = await _cells(engine)
    await rebuild_rollups(engine)
    assert await _cells(engine) == kept  # the folds kept what the back-fill builds
    await _check_sales(engine, orders, campaign, periods)


async def _cells(engine: AsyncEngine) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The customer day rows, and the day cells that count any customer."""
    days, cells = RechargeCustomerDayRow, RechargeDayCellRow
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(days.campaign_id, days.customer_id, days.day, days.recharges, days.fen,
                   days.previous_day, days.next_day).order_by(
                days.campaign_id, days.customer_id, days.day)
        )  # fmt: skip
        counted = await connection.execute(
            select(cells.campaign_id, cells.day, cells.previous_day, cells.next_day,
                   cells.customers, cells.single)
            .where(cells.customers > 0)
            .order_by(cells.campaign_id, cells.day, cells.previous_day, cells.next_day)
        )  # fmt: skip
        return [tuple(r) for r in rows], [tuple(r) for r in counted]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(orders=orders_over_days, periods=windows, folds=st.lists(st.booleans(), max_size=16))
def test_paying_and_repeat_customers_of_any_period_equal_those_of_the_orders(
    database_url: str, orders: list[Made], periods: list[tuple[int, int]], folds: list[bool]
) -> None:
    run_example(
        database_url,
        lambda engine: _kept_and_rebuilt(engine, orders, [*ALWAYS, *periods], folds),
    )


# Completions across four days, out of the order of their times: customer 0 on days 2, 0, 1
# (twice, in hours 30 and 40), 3 and 0 again; customer 1 once on day 1 and twice in hour 70;
# customer 2 on day 0 and day 3, and fails once.
ACROSS_DAYS = [
    Made(0, 50 * 60 + 5, 1_000, True, True),
    Made(0, 1 * 60 + 10, 100, True, False),
    Made(1, 27 * 60 + 1, 5_000, True, True),
    Made(0, 30 * 60 + 30, 100, True, True),
    Made(2, 20 * 60 + 31, 100, True, True),
    Made(0, 40 * 60 + 40, 1_000, True, False),
    Made(1, 70 * 60 + 59, 100, True, False),
    Made(0, 80 * 60 + 0, 5_000, True, True),
    Made(2, 60 * 60 + 0, 1_000, False, True),
    Made(1, 70 * 60 + 5, 1_000, True, True),
    Made(0, 0 * 60 + 1, 100, True, True),
    Made(2, 90 * 60 + 1, 1_000, True, False),
]
EVERY_PERIOD = [
    (start, length)
    for start in range(0, HOURS, 3)
    for length in (1, 11, 23, 24, 25, 36, 47, 48, 49, 71, 72, 95, 96)
    if start + length <= HOURS + 24
]


@pytest.mark.parametrize("out_of_order", [False, True])
@pytest.mark.parametrize("folded", ["each", "at_once"])
async def test_paying_and_repeat_customers_of_every_period_across_days(
    engine: AsyncEngine, out_of_order: bool, folded: str
) -> None:
    orders = ACROSS_DAYS if out_of_order else sorted(ACROSS_DAYS, key=lambda o: o.minute)
    folds = [folded == "each"] * len(orders)
    await _kept_and_rebuilt(engine, orders, EVERY_PERIOD, folds)


async def test_the_back_fill_keeps_the_day_cells_of_an_existing_database(
    engine: AsyncEngine,
) -> None:
    """The back-fill (as migration 0040 runs it on a database with hour rows already) builds
    the day rows and cells from the customer hour rows alone, again and again the same."""
    campaign = await complete_orders(engine, ACROSS_DAYS, DAYS, [True] * len(ACROSS_DAYS))
    await fold_all(engine)
    kept = await _cells(engine)
    assert kept[0] and kept[1]
    for _ in range(2):
        async with engine.begin() as connection:
            await connection.run_sync(backfill_days)
        assert await _cells(engine) == kept
    await _check_sales(engine, ACROSS_DAYS, campaign, EVERY_PERIOD)
