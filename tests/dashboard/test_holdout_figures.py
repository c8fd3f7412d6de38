"""The hold-out groups of periods over several days (whole UTC days, none, hours before and
after), read from the pairs of days the folds keep and the hours around them: on any orders,
completed in any order and folded at any point, every period's groups equal those worked out
from the orders themselves (SQLite and PostgreSQL), as kept by the folds and as rebuilt by the
back-fill."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.figures import Period
from domain.holdout import in_control
from domain.persistence.day_pairs import backfill_pairs
from domain.persistence.day_rollups import day_number
from domain.persistence.rollup_tables import RechargeDayPairRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.dashboard_figures import DashboardFigures
from tests.conftest import run_example
from tests.dashboard.data import add_campaign, add_customer, rebuild_rollups
from tests.dashboard.test_day_cells import ACROSS_DAYS, DAYS, HOURS, orders_over_days, windows
from tests.dashboard.test_rollups import BASE, Made, complete_orders, direct_holdout, fold_all

# Customers 1, 4 and 5 in control, 2 and 3 treated.
CODE, PERCENT = "x1", 50
PERIODS = [
    (start, length)
    for start in range(0, HOURS, 11)
    for length in (1, 23, 24, 25, 48, 49, 71, 96)
    if start + length <= HOURS + 24
]


async def _check(engine: AsyncEngine, campaign: int, periods: list[tuple[int, int]]) -> None:
    figures = DashboardFigures(UnitOfWorkFactory.of(engine))
    for start, length in periods:
        period = Period(BASE + timedelta(hours=start), BASE + timedelta(hours=start + length))
        expected = await direct_holdout(engine, period, CODE, PERCENT)
        assert await figures.holdout(period, campaign) == expected, (start, length)


async def _pairs(engine: AsyncEngine) -> list[tuple[int, int, int]]:
    pairs = RechargeDayPairRow
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(pairs.day, pairs.later_day, pairs.fen_product)
            .where(pairs.fen_product != 0)
            .order_by(pairs.day, pairs.later_day)
        )
        return [(int(a), int(b), int(c)) for a, b, c in rows]


async def _kept_and_rebuilt(
    engine: AsyncEngine, orders: list[Made], periods: list[tuple[int, int]], folds: list[bool]
) -> None:
    await complete_orders(engine, orders, DAYS, folds)
    # Two more customers, who start in the middle of the days and never recharge.
    for n, hours in enumerate((30, 60)):
        await add_customer(engine, 10 + n, BASE + timedelta(hours=hours))
    campaign = await add_campaign(engine, CODE, BASE, BASE + timedelta(days=DAYS), PERCENT)
    await fold_all(engine)
    await _check(engine, campaign, periods)
    kept = await _pairs(engine)
    await rebuild_rollups(engine)
    assert await _pairs(engine) == kept  # the folds kept what the back-fill builds
    await _check(engine, campaign, periods)


def test_the_groups_are_mixed() -> None:
    assert [in_control(CODE, customer, PERCENT) for customer in range(1, 6)] == [
        True, False, False, True, True,
    ]  # fmt: skip


@pytest.mark.parametrize("out_of_order", [False, True])
@pytest.mark.parametrize("folded", ["each", "at_once"])
async def test_hold_out_groups_of_every_period_across_days(
    engine: AsyncEngine, out_of_order: bool, folded: str
) -> None:
    orders = ACROSS_DAYS if out_of_order else sorted(ACROSS_DAYS, key=lambda o: o.minute)
    await _kept_and_rebuilt(engine, orders, PERIODS, [folded == "each"] * len(orders))


async def test_the_back_fill_keeps_the_pairs_of_an_existing_database(engine: AsyncEngine) -> None:
    """The back-fill (as migration 0041 runs it on a database with day rows already) builds
    the pairs from the customer day rows alone: each pair of a customer's days, the product of
    its fen on both, summed over customers."""
    await complete_orders(engine, ACROSS_DAYS, DAYS, [True] * len(ACROSS_DAYS))
    await fold_all(engine)
    kept = await _pairs(engine)
    fen: dict[tuple[int, int], int] = {}
    for made in ACROSS_DAYS:
        if made.completed:
            day = day_number(BASE) + made.minute // (24 * 60)
            fen[made.customer, day] = fen.get((made.customer, day), 0) + made.fen
    worked_out: dict[tuple[int, int], int] = {}
    for (customer, day), spent in fen.items():
        for (other, later), more in fen.items():
            if other == customer and later >= day:
                worked_out[day, later] = worked_out.get((day, later), 0) + spent * more
    assert kept == [(d, e, p) for (d, e), p in sorted(worked_out.items())]
    for _ in range(2):
        async with engine.begin() as connection:
            await connection.run_sync(backfill_pairs)
        assert await _pairs(engine) == kept


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(orders=orders_over_days, periods=windows, folds=st.lists(st.booleans(), max_size=16))
def test_hold_out_groups_of_any_period_equal_those_of_the_orders(
    database_url: str, orders: list[Made], periods: list[tuple[int, int]], folds: list[bool]
) -> None:
    run_example(
        database_url,
        lambda engine: _kept_and_rebuilt(engine, orders, [(0, HOURS), (12, 48), *periods], folds),
    )
