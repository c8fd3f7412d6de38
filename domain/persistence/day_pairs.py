"""Products of a customer's ¥ on two days, summed over customers (`RechargeDayPairRow`): the
Σ of every customer's ¥ squared over whole UTC days, read from the pairs of days instead of a
row per customer.

A customer's fen over the days [d0, d1) is the sum of its day rows there, and its square is
the sum of the products of those rows two by two: Σ_c (Σ_d f_cd)² = Σ_{d, e} Σ_c f_cd·f_ce.
`recharge_day_pairs` keeps, for each pair of days d ≤ e, Σ_c f_cd·f_ce over every customer
(campaign 0: every recharge), so the period's Σ of squares is the sum of its pairs, those of two
different days counted twice. Kept by the fold from the customer day rows after they took the
batch (`day_pairs_folded`); rebuilt from them by `backfill_pairs` (migration 0041)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, case, delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from domain.persistence.core import insert_in
from domain.persistence.day_rollups import Batch, day_of
from domain.persistence.rollup_tables import (
    EVERY_RECHARGE,
    RechargeCustomerDayRow,
    RechargeDayPairRow,
)

_DAYS = cast(Table, RechargeCustomerDayRow.__table__)
_PAIRS = cast(Table, RechargeDayPairRow.__table__)
_COLUMNS = ["day", "later_day", "fen_product"]


def backfill_pairs(connection: Connection) -> None:
    """Rebuild the pairs from the customer day rows (idempotent: what was there is replaced)."""
    first, second = aliased(_DAYS), aliased(_DAYS)
    connection.execute(delete(_PAIRS))
    connection.execute(
        insert(_PAIRS).from_select(
            _COLUMNS,
            select(first.c.day, second.c.day, func.sum(first.c.fen * second.c.fen))
            .join(
                second,
                (second.c.campaign_id == first.c.campaign_id)
                & (second.c.customer_id == first.c.customer_id)
                & (second.c.day >= first.c.day),
            )
            .where(first.c.campaign_id == EVERY_RECHARGE)
            .group_by(first.c.day, second.c.day),
        )
    )


def _customer_days(dialect: str, batch: Batch) -> Any:
    """Every day row (every recharge) of the batch's customers, as the fold left it (`fen`),
    with what the batch added to it (`added`, 0 on a day the batch has none): a common table
    expression, so the batch is read once."""
    rows = batch()
    day = day_of(rows.c.hour, dialect).label("day")
    added = (
        select(rows.c.customer_id, day, func.sum(rows.c.fen).label("added"))
        .where(rows.c.campaign_id == EVERY_RECHARGE)
        .group_by(rows.c.customer_id, day)
        .cte("batch_days")
    )
    return (
        select(
            _DAYS.c.customer_id,
            _DAYS.c.day,
            _DAYS.c.fen,
            func.coalesce(added.c.added, 0).label("added"),
        )
        .outerjoin(
            added, (added.c.customer_id == _DAYS.c.customer_id) & (added.c.day == _DAYS.c.day)
        )
        .where(
            _DAYS.c.campaign_id == EVERY_RECHARGE,
            _DAYS.c.customer_id.in_(select(added.c.customer_id)),
        )
        .cte("customer_days")
    )


def day_pairs_folded(dialect: str, batch: Batch) -> Any:
    """The batch added to the pairs, after the customer day rows took it: a pair of a
    customer's days (d, e) of which the batch added δd and δe changes by fd·fe - (fd - δd)·(fe -
    δe) = fd·δe + δd·fe - δd·δe, the f as they are now (d = e included)."""
    days = _customer_days(dialect, batch)
    first, second = days.alias("first_day"), days.alias("second_day")
    change = first.c.fen * second.c.added + first.c.added * second.c.fen
    change = change - first.c.added * second.c.added
    source = (
        select(first.c.day, second.c.day.label("later_day"), func.sum(change).label("product"))
        .join(
            second,
            (second.c.customer_id == first.c.customer_id) & (second.c.day >= first.c.day),
        )
        .where((first.c.added != 0) | (second.c.added != 0))
        .group_by(first.c.day, second.c.day)
    )
    statement = insert_in(dialect, _PAIRS).from_select(_COLUMNS, source)
    return statement.on_conflict_do_update(
        index_elements=[_PAIRS.c.day, _PAIRS.c.later_day],
        set_={"fen_product": _PAIRS.c.fen_product + statement.excluded.fen_product},
    )


def squares_over_days(d0: int, d1: int) -> Any:
    """Σ over customers of their fen over the whole days [d0, d1), squared."""
    pairs = _PAIRS.c
    twice = case((pairs.day == pairs.later_day, pairs.fen_product), else_=2 * pairs.fen_product)
    return select(func.coalesce(func.sum(twice), 0)).where(
        pairs.day >= d0, pairs.later_day < d1, pairs.day <= pairs.later_day
    )
