"""Read-only queries behind the dashboard and /metrics. They never write.

Each figure is one statement (or a few) that the database aggregates; only hourly buckets and
per-customer counts come back, never rows per order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, distinct, exists, func, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from domain.campaigns import OfferKind
from domain.figures import (
    Funnel,
    FunnelStep,
    HourlySales,
    OfferFigures,
    Period,
    PointsFigures,
    ReferralFigures,
    Sales,
)
from domain.holdout import GroupOutcome
from domain.orders import OrderPurpose, OrderStatus
from domain.persistence import holdout_figures
from domain.persistence.day_rollups import day_start, whole_days
from domain.persistence.referral_tables import ReferralRewardRow, ReferralRow
from domain.persistence.rollup_tables import (
    EVERY_RECHARGE,
    CampaignFunnelRow,
    CustomerFunnelRow,
    OffersSeenRow,
    RechargeCustomerHourRow,
    RechargeDayCellRow,
    RechargeHourRow,
)
from domain.persistence.support_repositories import TICKET_COLUMNS, plain_tickets
from domain.persistence.support_tables import TicketRow
from domain.persistence.tables import (
    CampaignRow,
    CustomerRow,
    OfferClaimRow,
    OfferRow,
    OrderRow,
    PhoneBindingRow,
    PointsBalanceRow,
    PointsEntryRow,
)
from domain.repositories import TicketRecord

if TYPE_CHECKING:
    from domain.persistence.unit_of_work import UnitOfWork

GRANTED = "granted"
RECHARGE = OrderPurpose.RECHARGE.value
COUPON = OfferKind.COUPON.value
COMPLETED = OrderStatus.COMPLETED.value


def _scope(campaign_id: int | None) -> int:
    return EVERY_RECHARGE if campaign_id is None else campaign_id


def _hour_of(column: Any, dialect: str) -> Any:
    """The UTC hour of a timestamp as text "YYYY-MM-DD HH" (one bucket key on both databases)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def _hour(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC)


class FigureQueries:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    @property
    def _dialect(self) -> str:
        return self._uow.session.get_bind().dialect.name

    async def _one(self, statement: Executable) -> Any:
        return (await self._uow.session.execute(statement)).one()

    # -- operations ---------------------------------------------------------------------------
    async def orders_by_status(self) -> dict[OrderStatus, int]:
        rows = await self._uow.session.execute(
            select(OrderRow.status, func.count()).group_by(OrderRow.status)
        )
        counts = {status: 0 for status in OrderStatus}
        for status, count in rows:
            counts[OrderStatus(status)] = int(count)
        return counts

    # -- overview -----------------------------------------------------------------------------
    # Recharges are read from the roll-ups written as orders complete (`rollups.py`), by
    # whole UTC hours: the dashboard's periods start and end on whole hours.
    async def sales_by_hour(
        self, period: Period, campaign_id: int | None = None
    ) -> list[HourlySales]:
        """Completed recharges by the UTC hour they completed in (its shards added up)."""
        hours = RechargeHourRow
        rows = await self._uow.session.execute(
            select(hours.hour, func.sum(hours.recharges), func.sum(hours.fen))
            .where(
                hours.campaign_id == _scope(campaign_id),
                hours.hour >= period.start,
                hours.hour < period.end,
            )
            .group_by(hours.hour)
            .order_by(hours.hour)
        )
        return [HourlySales(hour, int(n), int(fen)) for hour, n, fen in rows]

    async def sales(self, period: Period, campaign_id: int | None = None) -> Sales:
        """Recharges and fen from the hours; paying and repeat customers from the day cells of
        the period's whole days and the customer hour rows of the hours around them (`_paying`),
        each customer counted on its first row there (no previous row in the period) and counted
        once-only when that row holds one recharge and has no next row in the period: no
        grouping by customer."""
        hours = RechargeHourRow
        n, fen = await self._one(
            select(
                func.coalesce(func.sum(hours.recharges), 0), func.coalesce(func.sum(hours.fen), 0)
            ).where(
                hours.campaign_id == _scope(campaign_id),
                hours.hour >= period.start,
                hours.hour < period.end,
            )
        )
        customers, single = await self._paying(period, _scope(campaign_id))
        return Sales(int(n), int(fen), int(customers), int(customers) - int(single))

    async def _paying(self, period: Period, campaign: int) -> tuple[int, int]:
        """(paying customers, those with one recharge) of the period: from the day cells over
        its whole UTC days (`day_rollups`), with the customer hour rows of the hours before
        and after them; from the customer hour rows alone when it holds no whole day."""
        rows = RechargeCustomerHourRow
        in_campaign = rows.campaign_id == campaign
        first = rows.previous_hour.is_(None) | (rows.previous_hour < period.start)
        last = rows.next_hour.is_(None) | (rows.next_hour >= period.end)
        once = first & (rows.recharges == 1) & last

        def count(condition: Any) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        d0, d1 = whole_days(period.start, period.end)
        if d0 >= d1:
            customers, single = await self._one(
                select(count(first), count(once)).where(
                    in_campaign, rows.hour >= period.start, rows.hour < period.end
                )
            )
            return int(customers), int(single)
        days_from, days_to = day_start(d0), day_start(d1)
        cells = RechargeDayCellRow
        in_days, single_in_days = await self._one(
            select(
                func.coalesce(func.sum(cells.customers), 0),
                func.coalesce(func.sum(case((cells.next_day >= d1, cells.single), else_=0)), 0),
            ).where(
                cells.campaign_id == campaign,
                cells.day >= d0,
                cells.day < d1,
                cells.previous_day < d0,
            )
        )
        # The hours before the first whole day (E1) and after the last (E2). A day row whose
        # previous recharge is in E1 was counted by its cell as the customer's first: the E1
        # row before it is taken off (`into`). A one-recharge day row counted in
        # `single_in_days` whose previous row is in E1, or whose next is in E2, is taken off
        # as read through the E1 row before it or the E2 row after it (one whose previous is
        # in E1 already was): one look-up by key for each edge row that links into the days.
        neighbour = aliased(RechargeCustomerHourRow)
        into_days = (rows.next_hour >= days_from) & (rows.next_hour < days_to)
        out_of_days = (rows.previous_hour >= days_from) & (rows.previous_hour < days_to)
        edges = {
            # E1: its rows linking into the days, and the day row after each alone that day.
            (period.start, days_from): (
                into_days,
                neighbour.hour == rows.next_hour,
                neighbour.next_hour.is_(None) | (neighbour.next_hour >= days_to),
            ),
            # E2: the day row before its rows that link back into the days, alone that day
            # and first in the period.
            (days_to, period.end): (
                out_of_days,
                neighbour.hour == rows.previous_hour,
                neighbour.previous_hour.is_(None) | (neighbour.previous_hour < period.start),
            ),
        }
        first_at_edges = into = single_at_edges = taken_off = 0
        for (edge_start, edge_end), (linked, key, alone) in edges.items():
            if edge_start >= edge_end:
                continue
            # The look-up is a subquery made for the linked rows only (a join would let the
            # planner hash the campaign's every row).
            looked_up = exists().where(
                neighbour.campaign_id == rows.campaign_id,
                neighbour.customer_id == rows.customer_id,
                key,
                neighbour.recharges == 1,
                alone,
            )
            firsts, links, singles, off = await self._one(
                select(
                    count(first), count(linked), count(once),
                    count(case((linked, case((looked_up, True), else_=False)), else_=False)),
                ).where(in_campaign, rows.hour >= edge_start, rows.hour < edge_end)
            )  # fmt: skip
            first_at_edges += int(firsts)
            single_at_edges += int(singles)
            taken_off += int(off)
            if edge_end == days_from:
                into = int(links)
        customers = int(in_days) + first_at_edges - into
        single = int(single_in_days) + single_at_edges - taken_off
        return customers, single

    async def reached(self, period: Period) -> tuple[int, int, int]:
        """(reached, started, bound) in the period: counts over the indexes of when
        customers came first and last."""
        reached = await self._uow.session.scalar(
            select(func.count()).where(
                CustomerRow.last_seen_at >= period.start, CustomerRow.registered_at < period.end
            )
        )
        started = await self._uow.session.scalar(
            select(func.count()).where(
                CustomerRow.registered_at >= period.start, CustomerRow.registered_at < period.end
            )
        )
        # Customers whose first binding (earliest, then lowest id) was made in the period.
        earlier = aliased(PhoneBindingRow)
        first_binding = ~exists().where(
            earlier.customer_id == PhoneBindingRow.customer_id,
            (earlier.bound_at < PhoneBindingRow.bound_at)
            | ((earlier.bound_at == PhoneBindingRow.bound_at) & (earlier.id < PhoneBindingRow.id)),
        )
        bound = await self._uow.session.scalar(
            select(func.count()).where(
                PhoneBindingRow.bound_at >= period.start,
                PhoneBindingRow.bound_at < period.end,
                first_binding,
            )
        )
        return int(reached or 0), int(started or 0), int(bound or 0)

    # -- funnel -------------------------------------------------------------------------------
    async def funnel(self, period: Period, campaign_id: int | None = None) -> Funnel:
        """Customers who started in the period, and how many went on to each step. The steps
        from ordering on are read from the starters' funnels, by when they started: for every
        campaign their recharge orders, paid and completed, all told (`CustomerFunnelRow`);
        for one campaign those of its orders that took its offers (`CampaignFunnelRow`)."""
        cohort = and_(
            CustomerRow.registered_at >= period.start, CustomerRow.registered_at < period.end
        )
        bound = exists().where(PhoneBindingRow.customer_id == CustomerRow.id)
        saw = exists().where(OffersSeenRow.customer_id == CustomerRow.id)
        funnels: type[CustomerFunnelRow] | type[CampaignFunnelRow] = CustomerFunnelRow
        if campaign_id is not None:
            saw = saw.where(OffersSeenRow.campaign_id == campaign_id)
            funnels = CampaignFunnelRow

        def count(condition: Any) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        started = await self._one(
            select(func.count(), count(bound), count(saw)).select_from(CustomerRow).where(cohort)
        )
        onwards = select(
            func.count(),
            count(funnels.paid_orders >= 1),
            count(funnels.completed >= 1),
            count(funnels.completed >= 2),
        ).where(funnels.registered_at >= period.start, funnels.registered_at < period.end)
        if campaign_id is not None:
            onwards = onwards.where(CampaignFunnelRow.campaign_id == campaign_id)
        row = (*started, *await self._one(onwards))
        keys = ("started", "bound", "saw_offers", "ordered", "paid", "completed", "again")
        return Funnel([FunnelStep(key, int(n)) for key, n in zip(keys, row, strict=True)])

    # -- offers -------------------------------------------------------------------------------
    async def campaigns(self) -> list[tuple[int, str, str, str, datetime, datetime]]:
        """(id, code, name zh, name en, starts, ends) of every campaign, newest first."""
        rows = await self._uow.session.execute(
            select(
                CampaignRow.id,
                CampaignRow.code,
                CampaignRow.name_zh,
                CampaignRow.name_en,
                CampaignRow.starts_at,
                CampaignRow.ends_at,
            ).order_by(CampaignRow.starts_at.desc(), CampaignRow.id.desc())
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    async def offers(self, period: Period, campaign_id: int | None = None) -> list[OfferFigures]:
        """Each offer's slots, and its claims granted in the period with what they cost by
        kind; a coupon offer also with the codes handed out in the period."""
        claimed = (
            select(
                OfferClaimRow.offer_id.label("offer_id"),
                func.count().label("n"),
                func.sum(OfferClaimRow.cashback_fen).label("cashback"),
                func.sum(OfferClaimRow.red_packet_fen).label("red_packet"),
                func.sum(OfferClaimRow.bonus_points).label("points"),
                func.sum(OfferClaimRow.discount_fen).label("discount"),
            )
            .where(
                OfferClaimRow.status == GRANTED,
                OfferClaimRow.at >= period.start,
                OfferClaimRow.at < period.end,
            )
            .group_by(OfferClaimRow.offer_id)
            .subquery()
        )
        statement = (
            select(
                OfferRow.id,
                OfferRow.code,
                OfferRow.kind,
                OfferRow.quota,
                OfferRow.used,
                OfferRow.params,
                func.coalesce(claimed.c.n, 0),
                func.coalesce(claimed.c.cashback, 0),
                func.coalesce(claimed.c.red_packet, 0),
                func.coalesce(claimed.c.points, 0),
                func.coalesce(claimed.c.discount, 0),
            )
            .outerjoin(claimed, claimed.c.offer_id == OfferRow.id)
            .order_by(OfferRow.id)
        )
        if campaign_id is not None:
            statement = statement.where(OfferRow.campaign_id == campaign_id)
        rows = (await self._uow.session.execute(statement)).all()
        coupon_codes = {
            row.id: str(row.params["coupon_code"]).upper()
            for row in rows
            if row.kind == COUPON and (row.params or {}).get("coupon_code")
        }
        issued = await self._coupons_issued(period, set(coupon_codes.values()))
        figures = []
        for offer_id, code, kind, quota, used, _, n, fen, red, points, discount in rows:
            sold_out, burn = None, []
            if quota is not None:
                burn = await self._burn_down(offer_id, quota)
                if used >= quota:
                    sold_out = await self._uow.session.scalar(
                        select(OfferClaimRow.at)
                        .where(OfferClaimRow.offer_id == offer_id)
                        .order_by(OfferClaimRow.at, OfferClaimRow.id)
                        .offset(quota - 1)
                        .limit(1)
                    )
            figures.append(
                OfferFigures(
                    offer_id,
                    code,
                    kind,
                    quota,
                    used,
                    int(n),
                    int(fen),
                    sold_out,
                    burn,
                    red_packet_fen=int(red),
                    bonus_points=int(points),
                    discount_fen=int(discount),
                    coupons_issued=(
                        issued.get(coupon_codes[offer_id], 0) if offer_id in coupon_codes else None
                    ),
                )
            )
        return figures

    async def _coupons_issued(self, period: Period, codes: set[str]) -> dict[str, int]:
        """How many times each coupon code was handed out in the period: a referral reward of
        that coupon claimed (the code shown to its customer)."""
        if not codes:
            return {}
        rewards = ReferralRewardRow
        rows = await self._uow.session.execute(
            select(rewards.coupon_code, func.count())
            .where(
                rewards.kind == COUPON,
                rewards.coupon_code.in_(codes),
                rewards.claimed_at >= period.start,
                rewards.claimed_at < period.end,
            )
            .group_by(rewards.coupon_code)
        )
        return {str(code): int(n) for code, n in rows}

    async def _burn_down(self, offer_id: int, quota: int) -> list[tuple[datetime, int]]:
        hour = _hour_of(OfferClaimRow.at, self._dialect).label("hour")
        rows = await self._uow.session.execute(
            select(hour, func.count())
            .where(OfferClaimRow.offer_id == offer_id)
            .group_by(hour)
            .order_by(hour)
        )
        left, burn = quota, []
        for key, n in rows:
            left -= int(n)
            burn.append((_hour(key), max(left, 0)))
        return burn

    # -- points -------------------------------------------------------------------------------
    async def points(self, period: Period) -> PointsFigures:
        def of(kind: str) -> Any:
            return func.coalesce(
                func.sum(case((PointsEntryRow.kind == kind, PointsEntryRow.points), else_=0)), 0
            )

        earned, redeemed, lapsed = await self._one(
            select(of("earn"), of("redeem"), of("expire")).where(
                PointsEntryRow.at >= period.start, PointsEntryRow.at < period.end
            )
        )
        liability = await self._uow.session.scalar(
            select(func.coalesce(func.sum(PointsBalanceRow.points), 0))
        )
        return PointsFigures(int(earned), -int(redeemed), -int(lapsed), int(liability or 0))

    # -- referrals ----------------------------------------------------------------------------
    async def referrals(self, period: Period, campaign_code: str | None = None) -> ReferralFigures:
        statement = select(
            func.count(distinct(ReferralRow.inviter_id)),
            func.count(),
            func.coalesce(func.sum(case((ReferralRow.status == "qualified", 1), else_=0)), 0),
            func.coalesce(func.sum(case((ReferralRow.status == "held", 1), else_=0)), 0),
        ).where(ReferralRow.joined_at >= period.start, ReferralRow.joined_at < period.end)
        if campaign_code is not None:
            statement = statement.where(ReferralRow.campaign_code == campaign_code)
        inviters, joined, qualified, held = await self._one(statement)
        claimed = (
            select(func.count())
            .select_from(ReferralRewardRow)
            .where(
                ReferralRewardRow.claimed_at >= period.start,
                ReferralRewardRow.claimed_at < period.end,
            )
        )
        if campaign_code is not None:
            claimed = claimed.join(ReferralRow, ReferralRow.id == ReferralRewardRow.referral_id)
            claimed = claimed.where(ReferralRow.campaign_code == campaign_code)
        rewards = await self._uow.session.scalar(claimed)
        return ReferralFigures(int(inviters), int(joined), int(qualified), int(held), rewards or 0)

    # -- hold-out ----------------------------------------------------------------------------
    async def holdout_groups(
        self, period: Period, campaign_code: str, control_buckets: int
    ) -> tuple[GroupOutcome, GroupOutcome, list[int]]:
        """(every customer, the control group: the buckets below `control_buckets`), each
        customer who had started by the period's end with its completed recharges in it
        (`holdout_figures`); and the customers whose bucket is not kept yet (while there is
        one, the groups may count it in the wrong one: keep its bucket and read again)."""
        session = self._uow.session
        every, by_end = await holdout_figures.customers(session, period)
        unknown = await holdout_figures.customers_without_bucket(session, campaign_code, every)
        recharged, _ = await self._paying(period, EVERY_RECHARGE)
        return (
            await holdout_figures.everyone(session, period, by_end, recharged),
            await holdout_figures.control(session, period, campaign_code, control_buckets),
            unknown,
        )

    async def holdout_percent(self, campaign_id: int) -> tuple[str, int] | None:
        row = await self._uow.session.get(CampaignRow, campaign_id)
        if row is None:
            return None
        value = (row.extra or {}).get("holdout_percent", 0)
        return row.code, value if isinstance(value, int) else 0

    # -- support ------------------------------------------------------------------------------
    async def tickets(self, period: Period) -> list[TicketRecord]:
        """The tickets opened in the period, read as plain rows (no ORM objects to build:
        a month may hold thousands)."""
        rows = await self._uow.session.execute(
            select(*TICKET_COLUMNS).where(
                TicketRow.created_at >= period.start, TicketRow.created_at < period.end
            )
        )
        return plain_tickets(rows)
