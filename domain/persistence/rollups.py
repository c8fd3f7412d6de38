"""The dashboard's roll-ups (`rollup_tables.py`): added to by the order that completes, in its
transaction, and rebuilt from the orders by `backfill` (migration 0026, and data written
straight into the tables).

A completed recharge adds itself to the hour it completed in, for every recharge and for each
campaign whose offer it took: one `INSERT … SELECT … ON CONFLICT DO UPDATE` per roll-up, whose
SELECT names every recharge's row and the order's campaigns, so concurrent completions each add
exactly once (the database serialises the row)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Insert,
    Integer,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Subquery

from domain.orders import OrderPurpose, OrderStatus
from domain.persistence.core import CoreConnection, OnConflict, Record, Repository
from domain.persistence.rollup_tables import (
    EVERY_RECHARGE,
    OffersSeenRow,
    RechargeCustomerHourRow,
    RechargeHourRow,
)
from domain.persistence.tables import OfferClaimRow, OfferRow, OrderRow, UtcDateTime
from domain.repositories import OrderRecord

_HOURS = cast(Table, RechargeHourRow.__table__)
_CUSTOMER_HOURS = cast(Table, RechargeCustomerHourRow.__table__)
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


def _added(table: Table, keys: tuple[str, ...]) -> OnConflict:
    """One more recharge of `fen` in the rows of (campaign, hour, *keys) of every campaign of
    the order (`_campaigns_of_order`), made if missing: one statement however many."""

    def build(insert: Any) -> Insert:
        campaigns = _campaigns_of_order()
        rows = select(
            campaigns.c.campaign_id,
            bindparam("hour", type_=UtcDateTime()),
            *(bindparam(key, type_=Integer) for key in keys),
            literal_column("1", Integer),
            bindparam("fen", type_=BigInteger),
        ).where(campaigns.c.campaign_id.is_not(None))  # SQLite reads an upsert's SELECT
        # only with a WHERE clause
        statement = insert(table).from_select(
            ["campaign_id", "hour", *keys, "recharges", "fen"], rows
        )
        return statement.on_conflict_do_update(  # type: ignore[no-any-return]
            index_elements=[table.c.campaign_id, table.c.hour, *(table.c[k] for k in keys)],
            set_={"recharges": table.c.recharges + 1, "fen": table.c.fen + statement.excluded.fen},
        )

    return OnConflict(build)


_ADD_HOUR = _added(_HOURS, ())
_ADD_CUSTOMER_HOUR = _added(_CUSTOMER_HOURS, ("customer_id",))


async def add_completed_recharge(core: CoreConnection, order: OrderRecord | Record) -> None:
    """Add the completed order (its row after the move) to the roll-ups, if it is a recharge:
    for every recharge and for each campaign whose offer it took, two statements. The hours of
    every recharge are a row every completion adds to: it is written last, so its lock is
    held the shortest time before the commit."""
    if order.purpose != RECHARGE or order.status != COMPLETED or order.completed_at is None:
        return
    values = {"order_id": order.id, "hour": hour_of(order.completed_at), "fen": order.amount_fen}
    await core.run(_ADD_CUSTOMER_HOUR, **values, customer_id=order.customer_id)
    await core.run(_ADD_HOUR, **values)


def _hour_start(column: Any, dialect: str) -> Any:
    """The start of a timestamp's UTC hour, as the database stores such a time."""
    if dialect == "postgresql":
        return func.timezone("UTC", func.date_trunc("hour", func.timezone("UTC", column)))
    return func.strftime("%Y-%m-%d %H:00:00.000000", column)


def backfill(connection: Connection) -> None:
    """Rebuild the roll-ups from the completed recharges and the claims granted with them
    (idempotent: what was there is replaced)."""
    dialect = connection.dialect.name
    hour = _hour_start(_ORDERS.c.completed_at, dialect)
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
            literal(EVERY_RECHARGE),
            hour,
            _ORDERS.c.customer_id,
            func.count(),
            func.sum(_ORDERS.c.amount_fen),
        )
        .where(*completed)
        .group_by(hour, _ORDERS.c.customer_id)
    )
    by_campaign = (
        select(
            taken.c.campaign_id,
            hour,
            _ORDERS.c.customer_id,
            func.count(),
            func.sum(_ORDERS.c.amount_fen),
        )
        .join(taken, taken.c.order_id == _ORDERS.c.id)
        .where(*completed)
        .group_by(taken.c.campaign_id, hour, _ORDERS.c.customer_id)
    )
    connection.execute(delete(_HOURS))
    connection.execute(delete(_CUSTOMER_HOURS))
    connection.execute(insert(_CUSTOMER_HOURS).from_select(columns, every))
    connection.execute(insert(_CUSTOMER_HOURS).from_select(columns, by_campaign))
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
