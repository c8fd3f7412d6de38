"""Completed recharges by customer and UTC day, and the day cells counted from them
(`rollup_tables.RechargeCustomerDayRow`, `RechargeDayCellRow`): the distinct paying and
repeat customers of a period read from a few cells a day instead of a row per customer and
hour.

A customer's day rows in a campaign are linked in day order (`previous_day`, `next_day`), and
each row counts once in the cell of (campaign, day, previous day, next day). Over the whole
days [d0, d1):

- a customer paid in them exactly when one of its day rows there has its previous day before
  d0 (its first row there): paying customers = Σ `customers` of the cells with d0 ≤ day < d1
  and previous day < d0;
- a customer recharged once in them exactly when that first row holds one recharge and its next
  day is d1 or later: one-recharge customers = Σ `single` of those cells with next day ≥ d1.

`figure_queries` adds the hours at either end of a period that are not whole days from the
customer hour rows. Rebuilt from the customer hour rows by `backfill_days` (migration 0040);
the fold keeps them (`day_roll_ups`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Subquery,
    Table,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from domain.persistence.core import insert_in
from domain.persistence.rollup_tables import (
    NO_DAY_AFTER,
    NO_DAY_BEFORE,
    RechargeCustomerDayRow,
    RechargeCustomerHourRow,
    RechargeDayCellRow,
)

_DAYS = cast(Table, RechargeCustomerDayRow.__table__)
_CELLS = cast(Table, RechargeDayCellRow.__table__)
_CUSTOMER_HOURS = cast(Table, RechargeCustomerHourRow.__table__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day_number(moment: datetime) -> int:
    """The UTC day a moment falls in, numbered from 1970-01-01."""
    return (moment - EPOCH) // DAY


def day_start(day: int) -> datetime:
    return EPOCH + day * DAY


def whole_days(start: datetime, end: datetime) -> tuple[int, int]:
    """The whole UTC days [d0, d1) inside [start, end) (d0 ≥ d1: none)."""
    first = day_number(start)
    if day_start(first) < start:
        first += 1
    return first, day_number(end)


def day_of(column: Any, dialect: str) -> Any:
    """The UTC day number of a stored timestamp, in SQL."""
    if dialect == "postgresql":
        return sql_cast(func.floor(func.extract("epoch", column) / 86400), Integer)
    return sql_cast(func.julianday(column) - 2440587.5, Integer)


def backfill_days(connection: Connection) -> None:
    """Rebuild the customer day rows and the day cells from the customer hour rows
    (idempotent: what was there is replaced)."""
    day = day_of(_CUSTOMER_HOURS.c.hour, connection.dialect.name).label("day")
    grouped = (
        select(
            _CUSTOMER_HOURS.c.campaign_id,
            _CUSTOMER_HOURS.c.customer_id,
            day,
            func.sum(_CUSTOMER_HOURS.c.recharges).label("recharges"),
            func.sum(_CUSTOMER_HOURS.c.fen).label("fen"),
        )
        .group_by(_CUSTOMER_HOURS.c.campaign_id, _CUSTOMER_HOURS.c.customer_id, day)
        .subquery()
    )
    customer = [grouped.c.campaign_id, grouped.c.customer_id]
    connection.execute(delete(_DAYS))
    connection.execute(delete(_CELLS))
    connection.execute(
        insert(_DAYS).from_select(
            ["campaign_id", "customer_id", "day", "recharges", "fen", "previous_day", "next_day"],
            select(
                *grouped.c,
                func.coalesce(
                    func.lag(grouped.c.day).over(partition_by=customer, order_by=grouped.c.day),
                    NO_DAY_BEFORE,
                ),
                func.coalesce(
                    func.lead(grouped.c.day).over(partition_by=customer, order_by=grouped.c.day),
                    NO_DAY_AFTER,
                ),
            ),
        )
    )
    keys = [_DAYS.c.campaign_id, _DAYS.c.day, _DAYS.c.previous_day, _DAYS.c.next_day]
    connection.execute(
        insert(_CELLS).from_select(
            ["campaign_id", "day", "previous_day", "next_day", "customers", "single"],
            select(
                *keys, func.count(), func.sum(case((_DAYS.c.recharges == 1, 1), else_=0))
            ).group_by(*keys),
        )
    )


# -- kept by the fold ----------------------------------------------------------------------------
# The fold (`rollup_fold.py`) adds a batch of completed recharges (campaign_id, customer_id,
# hour, fen) to the day rows and cells in four statements, over the same marked batch:
#
# 1. the rows that can move to another cell are taken out of their cells: each batch day's row
#    of the customer (if it exists: its count of one recharge may change) and the customer's
#    rows just before and after that day (their links may change). Read through the old links,
#    a row is one of them when a batch day of its customer is its own day, or falls after it up
#    to its next day, or from its previous day up to before it;
# 2. the batch added to the day rows (new rows made, with no neighbours yet);
# 3. the batch's customers' rows relinked where their neighbours changed;
# 4. the same rows counted in their new cells: read through the new links, the predicate of 1
#    names the same old rows (the nearest row on a side is a batch day exactly when a batch day
#    lay between the row and its old neighbour) and the new ones.
#
# Folds take turns, so no two write one customer's rows at once.
Batch = Callable[[], Subquery]


def _batch_days(rows: Subquery, dialect: str) -> Any:
    return select(
        rows.c.campaign_id, rows.c.customer_id, day_of(rows.c.hour, dialect).label("day")
    ).subquery("batch_days")


def _recount(dialect: str, batch: Batch, sign: int) -> Any:
    """The cells of the rows that can move (see above), counted out (`sign` -1) or in (+1)."""
    days = _batch_days(batch(), dialect)
    customers = batch()
    pairs = select(customers.c.campaign_id, customers.c.customer_id).distinct().subquery()
    row = _DAYS.c
    touched = exists().where(
        days.c.campaign_id == row.campaign_id,
        days.c.customer_id == row.customer_id,
        (days.c.day == row.day)
        | ((row.day < days.c.day) & (days.c.day <= row.next_day))
        | ((row.previous_day <= days.c.day) & (days.c.day < row.day)),
    )
    keys = [row.campaign_id, row.day, row.previous_day, row.next_day]
    source = (
        select(
            *keys,
            (func.count() * sign).label("customers"),
            (func.sum(case((row.recharges == 1, 1), else_=0)) * sign).label("single"),
        )
        # From the batch's customers to their rows by key (not every row of the table
        # against the batch).
        .select_from(pairs)
        .join(
            _DAYS,
            (row.campaign_id == pairs.c.campaign_id) & (row.customer_id == pairs.c.customer_id),
        )
        .where(touched)
        .group_by(*keys)
    )
    statement = insert_in(dialect, _CELLS).from_select(
        ["campaign_id", "day", "previous_day", "next_day", "customers", "single"], source
    )
    return statement.on_conflict_do_update(
        index_elements=[_CELLS.c[key.name] for key in keys],
        set_={
            "customers": _CELLS.c.customers + statement.excluded.customers,
            "single": _CELLS.c.single + statement.excluded.single,
        },
    )


def _added(dialect: str, batch: Batch) -> Any:
    """The batch's recharges added to their customers' day rows (a new row with no
    neighbours: the relinking names them)."""
    rows = batch()
    day = day_of(rows.c.hour, dialect).label("day")
    source = (
        select(
            rows.c.campaign_id,
            rows.c.customer_id,
            day,
            func.count().label("recharges"),
            func.sum(rows.c.fen).label("fen"),
            literal(NO_DAY_BEFORE, Integer).label("previous_day"),
            literal(NO_DAY_AFTER, Integer).label("next_day"),
        )
        .where(rows.c.campaign_id.is_not(None))  # SQLite reads an upsert's SELECT only with
        # a WHERE clause
        .group_by(rows.c.campaign_id, rows.c.customer_id, day)
    )
    statement = insert_in(dialect, _DAYS).from_select(
        ["campaign_id", "customer_id", "day", "recharges", "fen", "previous_day", "next_day"],
        source,
    )
    return statement.on_conflict_do_update(
        index_elements=[_DAYS.c.campaign_id, _DAYS.c.customer_id, _DAYS.c.day],
        set_={
            "recharges": _DAYS.c.recharges + statement.excluded.recharges,
            "fen": _DAYS.c.fen + statement.excluded.fen,
        },
    )


def _relinked(batch: Batch) -> Any:
    """The batch's customers' day rows name the days of their rows before and after, written
    where that changed."""
    rows = batch()
    other = aliased(_DAYS)
    row = _DAYS.c
    same = (other.c.campaign_id == row.campaign_id, other.c.customer_id == row.customer_id)
    before = func.coalesce(
        select(func.max(other.c.day)).where(*same, other.c.day < row.day).scalar_subquery(),
        NO_DAY_BEFORE,
    )
    after = func.coalesce(
        select(func.min(other.c.day)).where(*same, other.c.day > row.day).scalar_subquery(),
        NO_DAY_AFTER,
    )
    return (
        update(_DAYS)
        .where(
            tuple_(row.campaign_id, row.customer_id).in_(
                select(rows.c.campaign_id, rows.c.customer_id)
            ),
            (row.previous_day != before) | (row.next_day != after),
        )
        .values(previous_day=before, next_day=after)
    )


def day_roll_ups(dialect: str, batch: Batch) -> tuple[Executable, ...]:
    """The fold's statements for the day rows and cells, in order, over the batch's completed
    recharges (`batch()`: campaign_id, customer_id, hour, fen; a new subquery each call)."""
    return (
        _recount(dialect, batch, -1),
        _added(dialect, batch),
        _relinked(batch),
        _recount(dialect, batch, 1),
    )
