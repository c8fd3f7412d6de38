"""The points sweep's statements: set-based, over the customers due by `next_lapse_at` only.

Each customer's balance row carries `next_lapse_at`, the earliest lapse date of their earned
points still unspent (earning brings it forward; it is never later than the true one). A batch
locks the balance rows of customers due by it (an index range), reads those customers' ledgers
in one statement with a running sum, writes every lapse in one statement and every balance in
another, and moves each customer's `next_lapse_at` on to their next lapse (or None). So a
customer whose points lapsed already is never read again, and a sweep with nothing due reads
one index page.

Spending (redeem, expire, reverse) is taken from the oldest earned points first: with the
earned entries in order of (at, id) and `spent` the total of the negative entries, what is left
of an entry is max(0, min(points, running total through it - spent)).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, select, update

from domain.persistence.core import CoreConnection
from domain.persistence.ledgers import POINTS_ENTRY, POINTS_SHIFT
from domain.persistence.tables import PointsBalanceRow, PointsEntryRow
from domain.repositories.money import LapseBatch, LapseWarning, Unspent

_BALANCES = cast(Table, PointsBalanceRow.__table__)
_ENTRIES = cast(Table, PointsEntryRow.__table__)


def _due(before: datetime, limit: int, after: datetime | None = None) -> Select[Any]:
    """Customers due by `next_lapse_at` <= `before` (and > `after`, not warned of it yet)."""
    column = _BALANCES.c.next_lapse_at
    statement = select(_BALANCES.c.customer_id).where(column <= before)
    if after is not None:
        warned = _BALANCES.c.lapse_warned_for
        statement = statement.where(column > after, warned.is_(None) | (warned != column))
    return (
        statement.order_by(column, _BALANCES.c.customer_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def _unspent(core: CoreConnection, customers: Sequence[int]) -> list[Unspent]:
    """What is left of each earned entry with a lapse date of these customers, lapsed or not
    (entries already lapsed by the sweep included: their keys tell)."""
    positive = (
        select(
            _ENTRIES.c.id,
            _ENTRIES.c.customer_id,
            _ENTRIES.c.points,
            _ENTRIES.c.expires_at,
            func.sum(_ENTRIES.c.points)
            .over(partition_by=_ENTRIES.c.customer_id, order_by=(_ENTRIES.c.at, _ENTRIES.c.id))
            .label("through"),
        )
        .where(_ENTRIES.c.customer_id.in_(customers), _ENTRIES.c.points > 0)
        .subquery()
    )
    spent = (
        select(_ENTRIES.c.customer_id, (-func.sum(_ENTRIES.c.points)).label("spent"))
        .where(_ENTRIES.c.customer_id.in_(customers), _ENTRIES.c.points < 0)
        .group_by(_ENTRIES.c.customer_id)
        .subquery()
    )
    rows = await core.rows(
        select(
            positive.c.id,
            positive.c.customer_id,
            positive.c.points,
            positive.c.expires_at,
            positive.c.through,
            func.coalesce(spent.c.spent, 0).label("spent"),
        )
        .outerjoin(spent, spent.c.customer_id == positive.c.customer_id)
        .where(positive.c.expires_at.is_not(None))
    )
    unspent = []
    for row in rows:
        left = max(0, min(int(row.points), int(row.through) - int(row.spent)))
        if left > 0:
            unspent.append(Unspent(row.id, row.customer_id, left, row.expires_at))
    return unspent


async def _lapsed_entries(core: CoreConnection, customers: Sequence[int]) -> set[str]:
    rows = await core.rows(
        select(_ENTRIES.c.idempotency_key).where(
            _ENTRIES.c.customer_id.in_(customers), _ENTRIES.c.kind == "expire"
        )
    )
    return {row.idempotency_key for row in rows}


_OWNER = _BALANCES.c.customer_id == bindparam("owner_id")
_WHEN = _BALANCES.c.next_lapse_at.type
_MOVE_NEXT_LAPSE = (
    update(_BALANCES).where(_OWNER).values(next_lapse_at=bindparam("next_at", type_=_WHEN))
)
_MOVE_NEXT_LAPSE_WARNED = _MOVE_NEXT_LAPSE.values(
    lapse_warned_for=bindparam("warned_for", type_=_WHEN)
)


async def lapse_batch(core: CoreConnection, now: datetime, limit: int) -> LapseBatch:
    """Lapse the points past their date of up to `limit` customers due by now, oldest due
    first; their balance rows stay locked until the caller's transaction ends."""
    customers = [row.customer_id for row in await core.rows(_due(now, limit))]
    if not customers:
        return LapseBatch(0, 0)
    lapsed_keys = await _lapsed_entries(core, customers)
    lapsing: list[Unspent] = []
    following: dict[int, datetime] = {}
    for item in await _unspent(core, customers):
        if item.lapses_at <= now:
            if f"expire:{item.entry_id}" not in lapsed_keys:
                lapsing.append(item)
        elif item.customer_id not in following or item.lapses_at < following[item.customer_id]:
            following[item.customer_id] = item.lapses_at
    totals: dict[int, int] = defaultdict(int)
    for item in lapsing:
        totals[item.customer_id] += item.points
    if lapsing:
        await core.run_many(
            POINTS_ENTRY,
            [
                {
                    "v_customer_id": item.customer_id,
                    "v_points": -item.points,
                    "v_kind": "expire",
                    "v_order_id": None,
                    "v_idempotency_key": f"expire:{item.entry_id}",
                    "v_note": "",
                    "v_at": now,
                    "v_expires_at": None,
                }
                for item in lapsing
            ],
        )
        # What is left of a customer's entries is at most their balance, and their balance row
        # is locked: these never fail.
        await core.run_many(
            POINTS_SHIFT,
            [{"owner_id": customer, "delta": -points} for customer, points in totals.items()],
        )
    await core.run_many(
        _MOVE_NEXT_LAPSE,
        [{"owner_id": customer, "next_at": following.get(customer)} for customer in customers],
    )
    return LapseBatch(len(customers), sum(totals.values()))


async def warnings_batch(
    core: CoreConnection, now: datetime, before: datetime, limit: int
) -> tuple[int, list[LapseWarning]]:
    """Customers whose points lapse after now and by `before` and who were not warned of that
    date yet, up to `limit`: how many were looked at, and the warning due to each (its points
    and its date). Each one's `next_lapse_at` is set to their true next lapse and marked
    warned of it; the caller claims each warning's notice in the same transaction."""
    customers = [row.customer_id for row in await core.rows(_due(before, limit, now))]
    if not customers:
        return 0, []
    following: dict[int, datetime] = {}
    points: dict[int, int] = defaultdict(int)
    for item in await _unspent(core, customers):
        if item.lapses_at <= now:
            continue  # the lapse sweep's, not a warning's
        if item.customer_id not in following or item.lapses_at < following[item.customer_id]:
            following[item.customer_id] = item.lapses_at
        if item.lapses_at <= before:
            points[item.customer_id] += item.points
    await core.run_many(
        _MOVE_NEXT_LAPSE_WARNED,
        [
            {
                "owner_id": customer,
                "next_at": following.get(customer),
                "warned_for": following.get(customer) if customer in points else None,
            }
            for customer in customers
        ],
    )
    return len(customers), [
        LapseWarning(customer, total, following[customer]) for customer, total in points.items()
    ]


_UNWARN = update(_BALANCES).where(_OWNER).values(lapse_warned_for=None)


async def unwarn(core: CoreConnection, customer_id: int) -> None:
    """The customer's warning could not be delivered: they are due for it again."""
    await core.run(_UNWARN, owner_id=customer_id)
