"""Each customer's funnel in each campaign (`rollup_tables.CampaignFunnelRow`): its recharge
orders that took one of the campaign's offers (a claim held or granted), those paid and those
completed, read by the funnel of one campaign instead of a period's starters' orders.

A claim changes apart from its order's own changes: it is made when the paid order goes to
the carrier, granted on completion, released when the order is refunded or expires, forgotten
when the order could not take every offer it was quoted. So the rows are not added to change
by change:
for each customer whose orders or claims changed (the fold's batch of `rollup_changes`, which
the database notes for both: migrations 0038 and 0042), the fold works the customer's rows out
again from its orders, claims and payments, in two set-based statements (the old rows deleted,
the new ones inserted). Folds take turns, and a change committed after the fold read the
customer's orders is noted for the next fold, which works that customer out again: the rows
always equal what the orders say once the notes are folded. `backfill_campaign_funnels` works
them all out (migration 0042, `rollups.rebuild_rollups`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Select, Table, case, delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from domain.orders import OrderPurpose, OrderStatus
from domain.persistence.rollup_tables import CampaignFunnelRow
from domain.persistence.tables import CustomerRow, OfferClaimRow, OfferRow, OrderRow, PaymentRow
from domain.repositories.reminders import CLAIMS_THAT_COUNT

_FUNNELS = cast(Table, CampaignFunnelRow.__table__)
_PEOPLE = cast(Table, CustomerRow.__table__)
_CLAIMS = cast(Table, OfferClaimRow.__table__)
_OFFERS = cast(Table, OfferRow.__table__)
_ORDERS = cast(Table, OrderRow.__table__)
_PAYMENTS = cast(Table, PaymentRow.__table__)

_COLUMNS = [
    "customer_id",
    "campaign_id",
    "registered_at",
    "recharge_orders",
    "paid_orders",
    "completed",
]


def _worked_out(customers: Any | None) -> Select[Any]:
    """The funnel rows of `customers` (a select of customer ids; None: every customer), as
    their recharge orders, the claims of their offers that count and their payments say."""
    taken = (
        select(_OFFERS.c.campaign_id, _ORDERS.c.id.label("order_id"), _ORDERS.c.customer_id)
        .select_from(_ORDERS)
        .join(_CLAIMS, _CLAIMS.c.order_id == _ORDERS.c.id)
        .join(_OFFERS, _OFFERS.c.id == _CLAIMS.c.offer_id)
        .where(
            _ORDERS.c.purpose == OrderPurpose.RECHARGE.value,
            _CLAIMS.c.status.in_(CLAIMS_THAT_COUNT),
        )
        .distinct()  # an order taking two offers of one campaign counts once in it
    )
    if customers is not None:
        taken = taken.where(_ORDERS.c.customer_id.in_(customers))
    orders = taken.subquery("taken")
    completed = case((_ORDERS.c.status == OrderStatus.COMPLETED.value, 1), else_=0)
    return (
        select(
            orders.c.customer_id,
            orders.c.campaign_id,
            _PEOPLE.c.registered_at,
            func.count(),
            func.count(_PAYMENTS.c.order_id),
            func.sum(completed),
        )
        .select_from(orders)
        .join(_ORDERS, _ORDERS.c.id == orders.c.order_id)
        .join(_PEOPLE, _PEOPLE.c.id == orders.c.customer_id)
        .outerjoin(_PAYMENTS, _PAYMENTS.c.order_id == orders.c.order_id)
        .group_by(orders.c.customer_id, orders.c.campaign_id, _PEOPLE.c.registered_at)
    )


def campaign_funnel_roll_ups(customers: Callable[[], Any]) -> tuple[Executable, ...]:
    """The fold's two statements: the rows of the batch's customers (`customers()`, a select
    of their ids) deleted, then worked out again from their orders."""
    return (
        delete(_FUNNELS).where(_FUNNELS.c.customer_id.in_(customers())),
        insert(_FUNNELS).from_select(_COLUMNS, _worked_out(customers())),
    )


def backfill_campaign_funnels(connection: Connection) -> None:
    """Work out every customer's funnel rows from the orders (idempotent)."""
    connection.execute(delete(_FUNNELS))
    connection.execute(insert(_FUNNELS).from_select(_COLUMNS, _worked_out(None)))
