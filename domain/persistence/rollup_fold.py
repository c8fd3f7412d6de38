"""The fold: the order changes noted in `rollup_changes` added to the dashboard's roll-ups, a
batch at a time, in one transaction.

A recharge writes nothing to the roll-ups itself: the database notes each change that counts
(a recharge order made, a payment, a recharge completed, a claim of an order's offer made,
released or forgotten) in `rollup_changes`, in the statement that makes it (the triggers of
migrations 0038 and 0042). `fold_rollups` then adds a batch of them to every
roll-up with a few set-based statements and deletes them, all in the caller's transaction:

1. the fold's turn: it writes the one row of `rollup_folds`, so on PostgreSQL a concurrent
   fold waits here until this one commits (SQLite's writers take turns anyway): two folds
   never count the same change, and a customer's hour rows are linked by one fold at a time;
2. the claim: the oldest `BATCH` unclaimed changes are marked `folding`. Every later statement
   reads only the marked rows, so a change committed while the fold runs waits for the next
   fold instead of being deleted uncounted (PostgreSQL reads afresh at each statement);
3. the roll-ups, one `INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE` each over the batch:
   the customers' all-time rows, their hour rows, the hours of every recharge; then the links
   of the customers' hour rows (`previous_hour`, `next_hour`) recomputed where they changed,
   the customers' funnels, their day rows and the day cells (`day_rollups.day_roll_ups`),
   the products of their day rows' fen two by two (`day_pairs.day_pairs_folded`), and their
   funnels in each campaign, worked out again for the batch's customers
   (`campaign_funnels.campaign_funnel_roll_ups`, which the claims' changes are noted for);
4. the marked changes deleted.

A crash anywhere in between rolls all of it back: each change is counted exactly once. A
change is counted in every recharge's rows (campaign 0) and in those of each campaign whose
offer its order took, as the offer claims say when it is folded.

Other day-level or period roll-ups add their statement here, between the claim and the delete,
over the same marked rows (`_completed_rows()`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Subquery,
    Table,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from domain.orders import OrderPurpose
from domain.persistence.campaign_funnels import campaign_funnel_roll_ups
from domain.persistence.core import CoreConnection, Repository, insert_in
from domain.persistence.day_pairs import day_pairs_folded
from domain.persistence.day_rollups import day_roll_ups
from domain.persistence.rollup_tables import (
    COMPLETED,
    EVERY_RECHARGE,
    ORDERED,
    PAID,
    CustomerFunnelRow,
    RechargeCustomerHourRow,
    RechargeCustomerRow,
    RechargeHourRow,
    RollupChangeRow,
    RollupFoldRow,
)
from domain.persistence.rollups import hour_start
from domain.persistence.tables import CustomerRow, OfferClaimRow, OfferRow, OrderRow

_CHANGES = cast(Table, RollupChangeRow.__table__)
_FOLDS = cast(Table, RollupFoldRow.__table__)
_HOURS = cast(Table, RechargeHourRow.__table__)
_CUSTOMER_HOURS = cast(Table, RechargeCustomerHourRow.__table__)
_CUSTOMERS = cast(Table, RechargeCustomerRow.__table__)
_FUNNELS = cast(Table, CustomerFunnelRow.__table__)
_PEOPLE = cast(Table, CustomerRow.__table__)
_CLAIMS = cast(Table, OfferClaimRow.__table__)
_OFFERS = cast(Table, OfferRow.__table__)
_ORDERS = cast(Table, OrderRow.__table__)

RECHARGE = OrderPurpose.RECHARGE.value
# The most changes one fold takes; a caller folds again while a fold took this many.
BATCH = 5_000
# A completed order's claims are granted with it, in the same transaction, before or after.
_TAKEN = ("held", "granted")

_FOLDING = _CHANGES.c.folding == true()

_CLAIM = (
    update(_CHANGES)
    .where(
        _CHANGES.c.id.in_(
            select(_CHANGES.c.id)
            .where(_CHANGES.c.folding != true())
            .order_by(_CHANGES.c.id)
            .limit(BATCH)
        )
    )
    .values(folding=True)
)
_DELETE = delete(_CHANGES).where(_FOLDING)
_PENDING = select(_CHANGES.c.id).limit(1)


def _batch_customers() -> Any:
    """The customers of the orders whose changes the fold under way marked."""
    return (
        select(_ORDERS.c.customer_id)
        .join(_CHANGES, _CHANGES.c.order_id == _ORDERS.c.id)
        .where(_FOLDING)
        .distinct()
    )


def _completed_rows(dialect: str) -> Subquery:
    """The batch's completed recharges, once for every recharge (`EVERY_RECHARGE`) and once
    for each campaign whose offer the order took: campaign_id, customer_id, hour, fen."""
    orders = (
        select(
            _ORDERS.c.id.label("order_id"),
            _ORDERS.c.customer_id,
            _ORDERS.c.amount_fen.label("fen"),
            hour_start(_ORDERS.c.completed_at, dialect).label("hour"),
        )
        .join(_CHANGES, _CHANGES.c.order_id == _ORDERS.c.id)
        .where(
            _FOLDING,
            _CHANGES.c.kind == COMPLETED,
            _ORDERS.c.purpose == RECHARGE,
            _ORDERS.c.completed_at.is_not(None),
        )
        .subquery("completed")
    )
    claimed = select(_CHANGES.c.order_id).where(_FOLDING, _CHANGES.c.kind == COMPLETED)
    campaigns = union(
        select(_CHANGES.c.order_id, literal(EVERY_RECHARGE, Integer).label("campaign_id")).where(
            _FOLDING, _CHANGES.c.kind == COMPLETED
        ),
        select(_CLAIMS.c.order_id, _OFFERS.c.campaign_id)
        .join(_OFFERS, _OFFERS.c.id == _CLAIMS.c.offer_id)
        .where(_CLAIMS.c.order_id.in_(claimed), _CLAIMS.c.status.in_(_TAKEN)),
    ).subquery("taken")
    return (
        select(campaigns.c.campaign_id, orders.c.customer_id, orders.c.hour, orders.c.fen)
        .join(campaigns, campaigns.c.order_id == orders.c.order_id)
        .subquery("counted")
    )


def _added(dialect: str, table: Table, keys: tuple[str, ...], extra: dict[str, Any]) -> Any:
    """The batch's recharges added to `table`'s rows of `keys` (made if missing)."""
    rows = _completed_rows(dialect)
    grouped = [rows.c[key] for key in keys]
    source = select(
        *grouped,
        *(literal(value).label(name) for name, value in extra.items()),
        func.count().label("recharges"),
        func.sum(rows.c.fen).label("fen"),
    ).group_by(*grouped)
    statement = insert_in(dialect, table).from_select([*keys, *extra, "recharges", "fen"], source)
    return statement.on_conflict_do_update(
        index_elements=[table.c[key] for key in (*keys, *extra)],
        set_={
            "recharges": table.c.recharges + statement.excluded.recharges,
            "fen": table.c.fen + statement.excluded.fen,
        },
    )


def _links(dialect: str) -> Executable:
    """Each hour row of the batch's customers (in the campaigns of the batch) names the hours
    of the customer's rows before and after it, written only where that changed: the new rows
    and their neighbours."""
    rows = _completed_rows(dialect)
    other = aliased(_CUSTOMER_HOURS)
    row = _CUSTOMER_HOURS.c
    same = (other.c.campaign_id == row.campaign_id, other.c.customer_id == row.customer_id)
    before = select(func.max(other.c.hour)).where(*same, other.c.hour < row.hour)
    after = select(func.min(other.c.hour)).where(*same, other.c.hour > row.hour)
    return (
        update(_CUSTOMER_HOURS)
        .where(
            tuple_(row.campaign_id, row.customer_id).in_(
                select(rows.c.campaign_id, rows.c.customer_id)
            ),
            or_(
                row.previous_hour.is_distinct_from(before.scalar_subquery()),
                row.next_hour.is_distinct_from(after.scalar_subquery()),
            ),
        )
        .values(previous_hour=before.scalar_subquery(), next_hour=after.scalar_subquery())
    )


def _funnels(dialect: str) -> Any:
    """The batch's recharge orders made, paid and completed, added to their customers'
    funnels (a customer's row made at its first order)."""

    def count(kind: str) -> Any:
        return func.sum(case((_CHANGES.c.kind == kind, 1), else_=0))

    completed = func.sum(
        case(
            ((_CHANGES.c.kind == COMPLETED) & _ORDERS.c.completed_at.is_not(None), 1),
            else_=0,
        )
    )
    source = (
        select(
            _ORDERS.c.customer_id, _PEOPLE.c.registered_at, count(ORDERED), count(PAID), completed
        )
        .select_from(_CHANGES)
        .join(_ORDERS, _ORDERS.c.id == _CHANGES.c.order_id)
        .join(_PEOPLE, _PEOPLE.c.id == _ORDERS.c.customer_id)
        .where(
            _FOLDING,
            _CHANGES.c.kind.in_((ORDERED, PAID, COMPLETED)),
            _ORDERS.c.purpose == RECHARGE,
        )
        .group_by(_ORDERS.c.customer_id, _PEOPLE.c.registered_at)
    )
    columns = ["recharge_orders", "paid_orders", "completed"]
    statement = insert_in(dialect, _FUNNELS).from_select(
        ["customer_id", "registered_at", *columns], source
    )
    return statement.on_conflict_do_update(
        index_elements=[_FUNNELS.c.customer_id],
        set_={name: _FUNNELS.c[name] + statement.excluded[name] for name in columns},
    )


def _turn(dialect: str) -> Any:
    statement = insert_in(dialect, _FOLDS).values(id=1, folds=1)
    return statement.on_conflict_do_update(
        index_elements=[_FOLDS.c.id], set_={"folds": _FOLDS.c.folds + 1}
    )


@dataclass(frozen=True)
class _Statements:
    turn: Executable
    roll_ups: tuple[Executable, ...]  # in this order, between the claim and the delete


@cache
def _statements(dialect: str) -> _Statements:
    return _Statements(
        turn=_turn(dialect),
        roll_ups=(
            _added(dialect, _CUSTOMERS, ("campaign_id", "customer_id"), {}),
            _added(dialect, _CUSTOMER_HOURS, ("campaign_id", "hour", "customer_id"), {}),
            _links(dialect),
            _added(dialect, _HOURS, ("campaign_id", "hour"), {"shard": 0}),
            _funnels(dialect),
            *day_roll_ups(dialect, lambda: _completed_rows(dialect)),
            day_pairs_folded(dialect, lambda: _completed_rows(dialect)),
            *campaign_funnel_roll_ups(_batch_customers),
        ),
    )


async def fold_rollups(core: CoreConnection) -> int:
    """Fold up to `BATCH` noted order changes into the roll-ups and delete them, in the
    caller's transaction (which it must commit); how many it folded (`BATCH`: fold again)."""
    statements = _statements(core.dialect.name)
    await core.run(statements.turn)
    claimed = await core.run(_CLAIM)
    if claimed == 0:
        return 0
    for statement in statements.roll_ups:
        await core.run(statement)
    await core.run(_DELETE)
    return claimed


async def changes_pending(core: CoreConnection) -> bool:
    """Whether any order change waits to be folded (a read: no lock taken)."""
    return await core.value(_PENDING) is not None


class RollupFoldRepository(Repository):
    """The fold, for the services (`RollupFolder`)."""

    async def pending(self) -> bool:
        return await changes_pending(await self._core())

    async def fold(self) -> int:
        return await fold_rollups(await self._core())
