"""The dashboard's roll-ups (`rollup_tables.py`) rebuilt from the orders: `rebuild_rollups`
(and, at the revisions before the changes were noted, `backfill` and `backfill_funnels`, which
migrations 0026 and 0034 to 0037 run). They are kept current by folding the order changes the
database notes (`rollup_fold.py`); the customers' first sight of a campaign's offers is kept
here too (`OffersSeenRepository`).

A customer's hour rows are linked in hour order (`previous_hour`, `next_hour`), which the
distinct-customer counts read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Select,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.engine import Connection

from domain.orders import OrderPurpose, OrderStatus
from domain.persistence.campaign_funnels import backfill_campaign_funnels
from domain.persistence.core import OnConflict, Repository
from domain.persistence.day_pairs import backfill_pairs
from domain.persistence.day_rollups import backfill_days
from domain.persistence.rollup_tables import (
    EVERY_RECHARGE,
    CustomerFunnelRow,
    OffersSeenRow,
    RechargeCustomerHourRow,
    RechargeCustomerRow,
    RechargeHourRow,
    RollupChangeRow,
)
from domain.persistence.tables import (
    CustomerRow,
    OfferClaimRow,
    OfferRow,
    OrderRow,
    PaymentRow,
    UtcDateTime,
)

_HOURS = cast(Table, RechargeHourRow.__table__)
_CUSTOMER_HOURS = cast(Table, RechargeCustomerHourRow.__table__)
_CUSTOMERS = cast(Table, RechargeCustomerRow.__table__)
_FUNNELS = cast(Table, CustomerFunnelRow.__table__)
_PAYMENTS = cast(Table, PaymentRow.__table__)
_PEOPLE = cast(Table, CustomerRow.__table__)
_CLAIMS = cast(Table, OfferClaimRow.__table__)
_OFFERS = cast(Table, OfferRow.__table__)
_ORDERS = cast(Table, OrderRow.__table__)

_CHANGES = cast(Table, RollupChangeRow.__table__)

RECHARGE = OrderPurpose.RECHARGE.value
COMPLETED = OrderStatus.COMPLETED.value


def hour_start(column: Any, dialect: str) -> Any:
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


def rebuild_rollups(connection: Connection) -> None:
    """Rebuild every roll-up of the orders from the orders (idempotent), the order changes
    not folded yet included: those are deleted, as counted."""
    backfill(connection)
    backfill_days(connection)
    backfill_pairs(connection)
    backfill_funnels(connection)
    backfill_campaign_funnels(connection)
    connection.execute(delete(_CHANGES))


def backfill(connection: Connection, *, linked: bool = True) -> None:
    """Rebuild the roll-ups from the completed recharges and the claims granted with them
    (idempotent: what was there is replaced). `linked=False` rebuilds them as revision 0026
    made them: without the customers' all-time rows and the links between their hours. From
    revision 0038 on, `rebuild_rollups` (which also drops the changes it counted)."""
    dialect = connection.dialect.name
    hour = hour_start(_ORDERS.c.completed_at, dialect).label("hour")
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
    """Rebuild the customers' funnels from their recharge orders and payments (idempotent).
    From revision 0038 on, `rebuild_rollups`."""
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
