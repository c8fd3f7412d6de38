"""The hold-out page's sums, read without a row per customer of the treated group.

The groups are counted by intention to treat: a campaign's group holds every customer who had
started (`registered_at`) by the period's end, whether or not it came back, with its completed
recharges in the period (any campaign or none: control customers get no offers). The sums of
every customer are read from the roll-ups: the customers from the index of when they started,
those who recharged from the day cells (`figure_queries._paying`), the fen from the hours, and
the Σ of each one's fen squared from the pairs of days (`day_pairs`) with the customers who
recharged in the hours around the period's whole days added one by one. The control group
(the buckets below its share: at most half the customers) is summed a customer at a time from
its kept buckets; the treated group is every customer less the control group.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.figures import Period
from domain.holdout import GroupOutcome
from domain.persistence.day_pairs import squares_over_days
from domain.persistence.day_rollups import day_start, whole_days
from domain.persistence.rollup_tables import (
    EVERY_RECHARGE,
    HoldoutBucketRow,
    RechargeCustomerHourRow,
    RechargeHourRow,
)
from domain.persistence.tables import CustomerRow


async def customers_without_bucket(
    session: AsyncSession, campaign_code: str, customers: int
) -> list[int]:
    """The customers whose bucket in the campaign is not kept yet, of the `customers` there
    are. Customers are never deleted and a bucket is kept for a customer only, so the buckets
    are all kept exactly when there are as many as customers; those missing are nearly always
    the newest customers (ids above the highest kept), and every customer is looked at only
    when they are not."""
    kept = HoldoutBucketRow
    buckets, highest = (
        await session.execute(
            select(func.count(), func.max(kept.customer_id)).where(
                kept.campaign_code == campaign_code
            )
        )
    ).one()
    missing = customers - int(buckets)
    if missing <= 0:
        return []
    newest = list(
        (
            await session.execute(
                select(CustomerRow.id).where(CustomerRow.id > func.coalesce(highest, 0))
            )
        ).scalars()
    )
    if len(newest) == missing:
        return newest
    unknown = (
        ~select(kept.customer_id)
        .where(kept.campaign_code == campaign_code, kept.customer_id == CustomerRow.id)
        .exists()
    )
    return list((await session.execute(select(CustomerRow.id).where(unknown))).scalars())


async def customers(session: AsyncSession, period: Period) -> tuple[int, int]:
    """(every customer, those who had started by the period's end), in one pass over the
    index of when they started."""
    started = func.coalesce(func.sum(case((CustomerRow.registered_at < period.end, 1), else_=0)), 0)
    every, by_end = (await session.execute(select(func.count(), started))).one()
    return int(every), int(by_end)


async def everyone(
    session: AsyncSession, period: Period, customers: int, recharged: int
) -> GroupOutcome:
    """Every one of the `customers` who had started by the period's end, with `recharged` of
    them (the distinct customers with a completed recharge in the period)."""
    hours = RechargeHourRow
    fen = await session.scalar(
        select(func.coalesce(func.sum(hours.fen), 0)).where(
            hours.campaign_id == EVERY_RECHARGE,
            hours.hour >= period.start,
            hours.hour < period.end,
        )
    )
    squared = await _fen_squared(session, period)
    return GroupOutcome(customers, recharged, int(fen or 0), squared)


async def _fen_squared(session: AsyncSession, period: Period) -> int:
    """Σ over customers of their fen in the period, squared. A customer's fen is b over the
    whole days plus x over the hours around them (b² + 2bx + x²): Σ b² from the pairs of days;
    for each customer with recharges in those hours, x and b from its hour rows (b in one
    look-up by key, answered from the index)."""
    d0, d1 = whole_days(period.start, period.end)
    rows = RechargeCustomerHourRow
    if d0 < d1:
        in_days = int(await session.scalar(squares_over_days(d0, d1)) or 0)
        around = or_(
            and_(rows.hour >= period.start, rows.hour < day_start(d0)),
            and_(rows.hour >= day_start(d1), rows.hour < period.end),
        )
    else:
        in_days, around = 0, and_(rows.hour >= period.start, rows.hour < period.end)
    hours = (
        select(rows.customer_id.label("customer_id"), func.sum(rows.fen).label("fen"))
        .where(rows.campaign_id == EVERY_RECHARGE, around)
        .group_by(rows.customer_id)
        .subquery()
    )
    x: Any = hours.c.fen
    if d0 < d1:
        other = aliased(RechargeCustomerHourRow)
        b: Any = func.coalesce(
            select(func.sum(other.fen))
            .where(
                other.campaign_id == EVERY_RECHARGE,
                other.customer_id == hours.c.customer_id,
                other.hour >= day_start(d0),
                other.hour < day_start(d1),
            )
            .scalar_subquery(),
            0,
        )
        added = x * x + 2 * b * x
    else:
        added = x * x
    around_days = await session.scalar(select(func.coalesce(func.sum(added), 0)))
    return in_days + int(around_days or 0)


async def control(
    session: AsyncSession, period: Period, campaign_code: str, control_buckets: int
) -> GroupOutcome:
    """The control group's customers who had started by the period's end (its buckets, less
    those of the customers who started since: a few), with the fen of each in the period
    (a look-up of its hour rows by key)."""
    kept = HoldoutBucketRow
    in_control = (kept.campaign_code == campaign_code, kept.bucket < control_buckets)
    members = select(func.count()).where(*in_control).scalar_subquery()
    since = (
        select(func.count())
        .select_from(CustomerRow)
        .join(kept, kept.customer_id == CustomerRow.id)
        .where(*in_control, CustomerRow.registered_at >= period.end)
        .scalar_subquery()
    )
    rows = RechargeCustomerHourRow
    spent = (
        select(func.sum(rows.fen).label("fen"))
        .select_from(kept)
        .join(
            rows,
            and_(
                rows.campaign_id == EVERY_RECHARGE,
                rows.customer_id == kept.customer_id,
                rows.hour >= period.start,
                rows.hour < period.end,
            ),
        )
        .where(*in_control)
        .group_by(kept.customer_id)
        .subquery()
    )
    fen = spent.c.fen
    recharged, total, squared = (
        await session.execute(
            select(
                func.count(), func.coalesce(func.sum(fen), 0), func.coalesce(func.sum(fen * fen), 0)
            )
        )
    ).one()
    customers = int(await session.scalar(select(members - since)) or 0)
    return GroupOutcome(customers, int(recharged), int(total), int(squared))
