"""The dashboard's roll-ups (`rollup_tables.py`): added to by the order that completes, in its
transaction, and rebuilt from the orders by `backfill` (migration 0026, and data written
straight into the tables).

A completed recharge adds itself to the hour it completed in, for every recharge and for each
campaign whose offer it took: one `INSERT … SELECT … ON CONFLICT DO UPDATE` per roll-up, whose
SELECT names every recharge's row and the order's campaigns, so concurrent completions each add
exactly once (the database serialises the row).

A customer's hour rows are linked in hour order (`previous_hour`, `next_hour`), which the
distinct-customer counts read. A new hour row takes its neighbours when it is inserted, and
the rows before and after it are pointed at it (a late completion lands between two); for a
row that existed already both updates find nothing to change. Before that, the completion adds
to the customer's all-time rows (`recharge_customers`): their locks hold a concurrent completion
of the same customer until this one commits, so the second reads the first's row and links to
it (on SQLite writers take turns anyway)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Insert,
    Integer,
    Select,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from domain.orders import OrderPurpose, OrderStatus
from domain.persistence.core import CoreConnection, OnConflict, Record, Repository
from domain.persistence.rollup_tables import (
    EVERY_RECHARGE,
    HOUR_SHARDS,
    CustomerFunnelRow,
    OffersSeenRow,
    RechargeCustomerHourRow,
    RechargeCustomerRow,
    RechargeHourRow,
)
from domain.persistence.tables import (
    CustomerRow,
    OfferClaimRow,
    OfferRow,
    OrderRow,
    PaymentRow,
    UtcDateTime,
)
from domain.repositories import OrderRecord

_HOURS = cast(Table, RechargeHourRow.__table__)
_CUSTOMER_HOURS = cast(Table, RechargeCustomerHourRow.__table__)
_CUSTOMERS = cast(Table, RechargeCustomerRow.__table__)
_FUNNELS = cast(Table, CustomerFunnelRow.__table__)
_PAYMENTS = cast(Table, PaymentRow.__table__)
_PEOPLE = cast(Table, CustomerRow.__table__)
_CLAIMS = cast(Table, OfferClaimRow.__table__)
_OFFERS = cast(Table, OfferRow.__table__)
_ORDERS = cast(Table, OrderRow.__table__)

RECHARGE = OrderPurpose.RECHARGE.value
COMPLETED = OrderStatus.COMPLETED.value
# A completed order's claims are granted with it, in the same transaction, before or after.
_TAKEN = ("held", "granted")


def hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (its roll-up bucket)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _campaigns_of_order() -> Subquery:
    """Every recharge's roll-up (`EVERY_RECHARGE`) and each campaign whose offer the order
    `order_id` took, once each."""
    return (
        select(literal_column(str(EVERY_RECHARGE), Integer).label("campaign_id"))
        .union(
            select(_OFFERS.c.campaign_id)
            .join(_CLAIMS, _CLAIMS.c.offer_id == _OFFERS.c.id)
            .where(_CLAIMS.c.order_id == bindparam("order_id"), _CLAIMS.c.status.in_(_TAKEN))
        )
        .subquery("taken")
    )


def _added(table: Table, keys: tuple[str, ...], hourly: bool = True) -> OnConflict:
    """One more recharge of `fen` in the rows of (campaign[, hour], *keys) of every campaign of
    the order (`_campaigns_of_order`, in campaign order), made if missing: one statement however
    many. A new customer hour row takes the hours of the customer's rows before and after it."""

    def build(insert: Any) -> Insert:
        campaigns = _campaigns_of_order()
        hour = [bindparam("hour", type_=UtcDateTime())] if hourly else []
        links = []
        if table is _CUSTOMER_HOURS:
            links = [_neighbour(campaigns.c.campaign_id, before=b) for b in (True, False)]
        rows = (
            select(
                campaigns.c.campaign_id,
                *hour,
                *(bindparam(key, type_=Integer) for key in keys),
                literal_column("1", Integer),
                bindparam("fen", type_=BigInteger),
                *links,
            )
            .where(campaigns.c.campaign_id.is_not(None))  # SQLite reads an upsert's SELECT
            # only with a WHERE clause
            .order_by(campaigns.c.campaign_id)  # locks taken in one order by every completion
        )
        columns = ["campaign_id", *(["hour"] if hourly else []), *keys, "recharges", "fen"]
        if links:
            columns += ["previous_hour", "next_hour"]
        statement = insert(table).from_select(columns, rows)
        conflict = [table.c.campaign_id, *([table.c.hour] if hourly else [])]
        return statement.on_conflict_do_update(  # type: ignore[no-any-return]
            index_elements=[*conflict, *(table.c[k] for k in keys)],
            set_={"recharges": table.c.recharges + 1, "fen": table.c.fen + statement.excluded.fen},
        )

    return OnConflict(build)


_ROWS = _CUSTOMER_HOURS.c
_HOUR = bindparam("at_hour", type_=UtcDateTime())
_CUSTOMER = bindparam("customer", type_=Integer)


def _neighbour(campaign: Any, before: bool) -> Any:
    """The hour of the customer's row in `campaign` just before (or after) the hour."""
    earlier = aliased(_CUSTOMER_HOURS)
    found = func.max(earlier.c.hour) if before else func.min(earlier.c.hour)
    hour = bindparam("hour", type_=UtcDateTime())
    side = earlier.c.hour < hour if before else earlier.c.hour > hour
    return (
        select(found)
        .where(
            earlier.c.campaign_id == campaign,
            earlier.c.customer_id == bindparam("customer_id", type_=Integer),
            side,
        )
        .scalar_subquery()
    )


def _order_campaigns() -> Any:
    campaigns = _campaigns_of_order()
    return select(campaigns.c.campaign_id).where(campaigns.c.campaign_id.is_not(None))


# The customer's row just before the hour (in each of the order's campaigns) now leads to it,
# and the row just after it (a completion that came late) now follows it: in a linked chain
# those are the only rows whose link jumps over the hour.
_LINK_BEFORE = (
    update(_CUSTOMER_HOURS)
    .where(
        _ROWS.campaign_id.in_(_order_campaigns()),
        _ROWS.customer_id == _CUSTOMER,
        _ROWS.hour < _HOUR,
        _ROWS.next_hour.is_(None) | (_ROWS.next_hour > _HOUR),
    )
    .values(next_hour=_HOUR)
)
_LINK_AFTER = (
    update(_CUSTOMER_HOURS)
    .where(
        _ROWS.campaign_id.in_(_order_campaigns()),
        _ROWS.customer_id == _CUSTOMER,
        _ROWS.hour > _HOUR,
        _ROWS.previous_hour.is_(None) | (_ROWS.previous_hour < _HOUR),
    )
    .values(previous_hour=_HOUR)
)

_ADD_CUSTOMER = _added(_CUSTOMERS, ("customer_id",), hourly=False)
_ADD_HOUR = _added(_HOURS, ("shard",))
_ADD_CUSTOMER_HOUR = _added(_CUSTOMER_HOURS, ("customer_id",))


# -- the customers' funnels ---------------------------------------------------------------------
_FUNNEL_ORDER = OnConflict(
    lambda insert: (
        insert(_FUNNELS)
        .from_select(
            ["customer_id", "registered_at", "recharge_orders", "paid_orders", "completed"],
            select(
                _PEOPLE.c.id,
                _PEOPLE.c.registered_at,
                literal_column("1", Integer),
                literal_column("0", Integer),
                literal_column("0", Integer),
            ).where(_PEOPLE.c.id == bindparam("customer", type_=Integer)),
        )
        .on_conflict_do_update(
            index_elements=[_FUNNELS.c.customer_id],
            set_={"recharge_orders": _FUNNELS.c.recharge_orders + 1},
        )
    )
)
_FUNNEL_PAID = (
    update(_FUNNELS)
    .where(
        _FUNNELS.c.customer_id
        == select(_ORDERS.c.customer_id)
        .where(_ORDERS.c.id == bindparam("paid_order"), _ORDERS.c.purpose == RECHARGE)
        .scalar_subquery()
    )
    .values(paid_orders=_FUNNELS.c.paid_orders + 1)
)
_FUNNEL_COMPLETED = (
    update(_FUNNELS)
    .where(_FUNNELS.c.customer_id == bindparam("customer", type_=Integer))
    .values(completed=_FUNNELS.c.completed + 1)
)


async def add_order_to_funnel(core: CoreConnection, order: OrderRecord | Record) -> None:
    """A new order (its row as inserted) of the customer, if it is a recharge."""
    if order.purpose == RECHARGE:
        await core.run(_FUNNEL_ORDER, customer=order.customer_id)


async def add_payment_to_funnel(core: CoreConnection, order_id: int) -> None:
    """The order was paid (its payment inserted): one more paid order of its customer, if it
    is a recharge."""
    await core.run(_FUNNEL_PAID, paid_order=order_id)


async def add_completed_recharge(core: CoreConnection, order: OrderRecord | Record) -> None:
    """Add the completed order (its row after the move) to the roll-ups, if it is a recharge:
    for every recharge and for each campaign whose offer it took. First the customer's
    all-time rows (their locks make the customer's completions link in turn), then its hour's
    rows and their links, last the hours of every recharge: rows shared by every completion of
    a shard of customers (`HOUR_SHARDS`), written last so that their locks are held the
    shortest time before the commit."""
    if order.purpose != RECHARGE or order.status != COMPLETED or order.completed_at is None:
        return
    hour = hour_of(order.completed_at)
    values = {"order_id": order.id, "hour": hour, "fen": order.amount_fen}
    customer = {"order_id": order.id, "customer": order.customer_id, "at_hour": hour}
    await core.run(_ADD_CUSTOMER, **values, customer_id=order.customer_id)
    await core.run(_ADD_CUSTOMER_HOUR, **values, customer_id=order.customer_id)
    await core.run(_LINK_BEFORE, **customer)
    await core.run(_LINK_AFTER, **customer)
    await core.run(_FUNNEL_COMPLETED, customer=order.customer_id)
    await core.run(_ADD_HOUR, **values, shard=order.customer_id % HOUR_SHARDS)


def _hour_start(column: Any, dialect: str) -> Any:
    """The start of a timestamp's UTC hour, as the database stores such a time."""
    if dialect == "postgresql":
        return func.timezone("UTC", func.date_trunc("hour", func.timezone("UTC", column)))
    return func.strftime("%Y-%m-%d %H:00:00.000000", column)


def _linked(grouped: Select[Any]) -> Select[Any]:
    """The customer hour rows of `grouped` with the hours of each customer's rows before and
    after each one in its campaign."""
    rows = grouped.subquery()
    customer = [rows.c.campaign_id, rows.c.customer_id]
    return select(
        *rows.c,
        func.lag(rows.c.hour).over(partition_by=customer, order_by=rows.c.hour),
        func.lead(rows.c.hour).over(partition_by=customer, order_by=rows.c.hour),
    )


def backfill(connection: Connection, *, linked: bool = True) -> None:
    """Rebuild the roll-ups from the completed recharges and the claims granted with them
    (idempotent: what was there is replaced). `linked=False` rebuilds them as revision 0026
    made them: without the customers' all-time rows and the links between their hours."""
    dialect = connection.dialect.name
    hour = _hour_start(_ORDERS.c.completed_at, dialect).label("hour")
    completed = (
        _ORDERS.c.purpose == RECHARGE,
        _ORDERS.c.status == COMPLETED,
        _ORDERS.c.completed_at.is_not(None),
    )
    taken = (
        select(_OFFERS.c.campaign_id, _CLAIMS.c.order_id)
        .join(_CLAIMS, _CLAIMS.c.offer_id == _OFFERS.c.id)
        .where(_CLAIMS.c.status == "granted")
        .distinct()
        .subquery()
    )
    columns = ["campaign_id", "hour", "customer_id", "recharges", "fen"]
    every = (
        select(
            literal(EVERY_RECHARGE).label("campaign_id"),
            hour,
            _ORDERS.c.customer_id.label("customer_id"),
            func.count().label("recharges"),
            func.sum(_ORDERS.c.amount_fen).label("fen"),
        )
        .where(*completed)
        .group_by(hour, _ORDERS.c.customer_id)
    )
    by_campaign = (
        select(
            taken.c.campaign_id.label("campaign_id"),
            hour,
            _ORDERS.c.customer_id.label("customer_id"),
            func.count().label("recharges"),
            func.sum(_ORDERS.c.amount_fen).label("fen"),
        )
        .join(taken, taken.c.order_id == _ORDERS.c.id)
        .where(*completed)
        .group_by(taken.c.campaign_id, hour, _ORDERS.c.customer_id)
    )
    connection.execute(delete(_HOURS))
    connection.execute(delete(_CUSTOMER_HOURS))
    for grouped in (every, by_campaign):
        if linked:
            connection.execute(
                insert(_CUSTOMER_HOURS).from_select(
                    [*columns, "previous_hour", "next_hour"], _linked(grouped)
                )
            )
        else:
            connection.execute(insert(_CUSTOMER_HOURS).from_select(columns, grouped))
    connection.execute(
        insert(_HOURS).from_select(
            ["campaign_id", "hour", "recharges", "fen"],
            select(
                _CUSTOMER_HOURS.c.campaign_id,
                _CUSTOMER_HOURS.c.hour,
                func.sum(_CUSTOMER_HOURS.c.recharges),
                func.sum(_CUSTOMER_HOURS.c.fen),
            ).group_by(_CUSTOMER_HOURS.c.campaign_id, _CUSTOMER_HOURS.c.hour),
        )
    )
    if not linked:
        return
    connection.execute(delete(_CUSTOMERS))
    connection.execute(
        insert(_CUSTOMERS).from_select(
            ["campaign_id", "customer_id", "recharges", "fen"],
            select(
                _CUSTOMER_HOURS.c.campaign_id,
                _CUSTOMER_HOURS.c.customer_id,
                func.sum(_CUSTOMER_HOURS.c.recharges),
                func.sum(_CUSTOMER_HOURS.c.fen),
            ).group_by(_CUSTOMER_HOURS.c.campaign_id, _CUSTOMER_HOURS.c.customer_id),
        )
    )


def backfill_funnels(connection: Connection) -> None:
    """Rebuild the customers' funnels from their recharge orders and payments (idempotent)."""
    completed = func.sum(case((_ORDERS.c.status == COMPLETED, 1), else_=0))
    connection.execute(delete(_FUNNELS))
    connection.execute(
        insert(_FUNNELS).from_select(
            ["customer_id", "registered_at", "recharge_orders", "paid_orders", "completed"],
            select(
                _ORDERS.c.customer_id,
                _PEOPLE.c.registered_at,
                func.count(),
                func.count(_PAYMENTS.c.order_id),
                completed,
            )
            .join(_PEOPLE, _PEOPLE.c.id == _ORDERS.c.customer_id)
            .outerjoin(_PAYMENTS, _PAYMENTS.c.order_id == _ORDERS.c.id)
            .where(_ORDERS.c.purpose == RECHARGE)
            .group_by(_ORDERS.c.customer_id, _PEOPLE.c.registered_at),
        )
    )


_OFFERS_SEEN = cast(Table, OffersSeenRow.__table__)
_SEEN = OnConflict(
    lambda insert: (
        insert(_OFFERS_SEEN)
        .values(
            campaign_id=bindparam("campaign", type_=Integer),
            customer_id=bindparam("customer", type_=Integer),
            at=bindparam("at", type_=UtcDateTime()),
        )
        .on_conflict_do_nothing(
            index_elements=[_OFFERS_SEEN.c.campaign_id, _OFFERS_SEEN.c.customer_id]
        )
    )
)


class OffersSeenRepository(Repository):
    async def record(self, customer_id: int, campaign_ids: Iterable[int], at: datetime) -> None:
        """The customer saw these campaigns' offers at `at`: kept the first time only (the
        unique key keeps one row a customer and campaign, whoever writes it first)."""
        core = await self._core()
        for campaign_id in sorted(set(campaign_ids)):
            await core.run(_SEEN, campaign=campaign_id, customer=customer_id, at=at)
