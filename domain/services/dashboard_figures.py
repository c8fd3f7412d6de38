"""The campaign dashboard's figures, each page read in one read-only unit of work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.broadcasts import RECHARGE_WINDOW
from domain.figures import (
    Funnel,
    HourlySales,
    OfferFigures,
    Overview,
    Period,
    PointsFigures,
    PushesFigures,
    PushOutcome,
    ReferralFigures,
    SentMessage,
    SupportFigures,
)
from domain.holdout import Uplift, control_buckets, holdout_bucket, uplift
from domain.orders import OrderStatus
from domain.repositories import UnitOfWorkFactory
from domain.services.support import ticket_of
from domain.tickets import support_stats


@dataclass(frozen=True)
class CampaignChoice:
    id: int
    code: str
    name_zh: str
    name_en: str
    starts_at: datetime
    ends_at: datetime


def push_outcomes(sent: list[SentMessage]) -> list[PushOutcome]:
    """Messages summed by campaign or broadcast (in that key's order): sent, opened, and
    followed by a recharge within 24 hours (as a broadcast's report counts them)."""
    totals: dict[int, list[int]] = {}
    campaigns: dict[int, int | None] = {}
    for key, campaign_id, pressed, at, first in sent:
        counts = totals.setdefault(key, [0, 0, 0])
        campaigns[key] = campaign_id
        counts[0] += 1
        counts[1] += 1 if pressed else 0
        if at is not None and first is not None and first - at <= RECHARGE_WINDOW:
            counts[2] += 1
    return [PushOutcome(key, campaigns[key], *totals[key]) for key in sorted(totals)]


class DashboardFigures:
    def __init__(self, uow: UnitOfWorkFactory, fen_per_100_points: int = 100) -> None:
        self._uow = uow
        # What 100 bonus points cost a campaign, in fen (an offer's cost counts them so).
        self.fen_per_100_points = fen_per_100_points

    async def orders_by_status(self) -> dict[OrderStatus, int]:
        async with self._uow.report() as uow:
            return await uow.figures.orders_by_status()

    async def campaigns(self) -> list[CampaignChoice]:
        async with self._uow.read() as uow:
            return [CampaignChoice(*row) for row in await uow.figures.campaigns()]

    async def fold(self) -> int:
        """Fold the order changes the roll-ups have not counted yet into them (a batch; the
        scheduler's sweep folds every few seconds, and each read of the roll-ups folds first,
        so a page is never behind the orders): how many. Only a read when none waits."""
        async with self._uow.read() as uow:
            if not await uow.rollups.pending():
                return 0
        async with self._uow() as uow:
            folded = await uow.rollups.fold()
            await uow.commit()
        return folded

    async def sales_by_hour(self, start: datetime, end: datetime) -> list[HourlySales]:
        await self.fold()
        async with self._uow.report() as uow:
            return await uow.figures.sales_by_hour(Period(start, end))

    async def overview(self, period: Period, campaign_id: int | None = None) -> Overview:
        await self.fold()
        async with self._uow.report() as uow:
            figures = uow.figures
            reached, started, bound = await figures.reached(period)
            return Overview(
                period=period,
                reached=reached,
                started=started,
                bound=bound,
                sales=await figures.sales(period, campaign_id),
                sales_before=await figures.sales(period.before, campaign_id),
                by_hour=await figures.sales_by_hour(period, campaign_id),
                by_hour_before=await figures.sales_by_hour(period.before, campaign_id),
            )

    async def saw_offers(self, customer_id: int, campaign_ids: Iterable[int], at: datetime) -> None:
        """The customer was shown these campaigns' offers (the funnel's "saw offers" step,
        kept the first time for each campaign)."""
        wanted = set(campaign_ids)
        if not wanted:
            return
        async with self._uow() as uow:
            await uow.offers_seen.record(customer_id, wanted, at)
            await uow.commit()

    async def funnel(self, period: Period, campaign_id: int | None = None) -> Funnel:
        await self.fold()
        async with self._uow.report() as uow:
            return await uow.figures.funnel(period, campaign_id)

    async def offers(self, period: Period, campaign_id: int | None = None) -> list[OfferFigures]:
        async with self._uow.report() as uow:
            return await uow.figures.offers(period, campaign_id)

    async def points(self, period: Period) -> PointsFigures:
        async with self._uow.report() as uow:
            return await uow.figures.points(period)

    async def referrals(self, period: Period, campaign_code: str | None = None) -> ReferralFigures:
        async with self._uow.report() as uow:
            return await uow.figures.referrals(period, campaign_code)

    async def holdout(self, period: Period, campaign_id: int) -> Uplift | None:
        """Treated against control of a campaign with a hold-out group (None: it has none),
        every customer who had started by the period's end counted in its group: the database
        sums every customer and the control group, and the treated group is the rest. The
        customers whose bucket is not kept yet (who came since the last read) are hashed
        here, kept, and the groups read again."""
        await self.fold()
        while True:
            async with self._uow.report() as uow:
                found = await uow.figures.holdout_percent(campaign_id)
                if found is None or found[1] <= 0:
                    return None
                code, percent = found
                everyone, control, unknown = await uow.figures.holdout_groups(
                    period, code, control_buckets(percent)
                )
            if not unknown:
                return uplift(everyone.less(control), control)
            async with self._uow() as uow:
                buckets = [(customer, holdout_bucket(code, customer)) for customer in unknown]
                await uow.holdout_buckets.keep(code, buckets)
                await uow.commit()

    async def support(self, period: Period) -> SupportFigures:
        async with self._uow.report() as uow:
            rows = await uow.figures.tickets(period)
        stats = support_stats([ticket_of(row) for row in rows])
        return SupportFigures(stats, sum(1 for row in rows if row.escalated_at is not None))

    async def pushes(self, period: Period, campaign_id: int | None = None) -> PushesFigures:
        """Reminders (by campaign) and broadcasts sent in the period, and what they led to."""
        async with self._uow.report() as uow:
            queries = uow.push_figures
            reminders = push_outcomes(await queries.reminders_sent(period, campaign_id))
            broadcasts = push_outcomes(await queries.broadcasts_sent(period, campaign_id))
            texts = await queries.broadcast_texts([b.key for b in broadcasts])
        return PushesFigures(reminders, broadcasts, texts)
