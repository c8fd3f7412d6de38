"""The campaign dashboard's figures, each page read in one read-only unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.figures import (
    Funnel,
    HourlySales,
    OfferFigures,
    Overview,
    Period,
    PointsFigures,
    ReferralFigures,
    SupportFigures,
)
from domain.orders import OrderStatus
from domain.persistence.unit_of_work import UnitOfWorkFactory
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


class DashboardFigures:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def orders_by_status(self) -> dict[OrderStatus, int]:
        async with self._uow.read() as uow:
            return await uow.figures.orders_by_status()

    async def campaigns(self) -> list[CampaignChoice]:
        async with self._uow.read() as uow:
            return [CampaignChoice(*row) for row in await uow.figures.campaigns()]

    async def sales_by_hour(self, start: datetime, end: datetime) -> list[HourlySales]:
        async with self._uow.read() as uow:
            return await uow.figures.sales_by_hour(Period(start, end))

    async def overview(self, period: Period, campaign_id: int | None = None) -> Overview:
        async with self._uow.read() as uow:
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

    async def funnel(self, period: Period, campaign_id: int | None = None) -> Funnel:
        async with self._uow.read() as uow:
            return await uow.figures.funnel(period, campaign_id)

    async def offers(self, period: Period, campaign_id: int | None = None) -> list[OfferFigures]:
        async with self._uow.read() as uow:
            return await uow.figures.offers(period, campaign_id)

    async def points(self, period: Period) -> PointsFigures:
        async with self._uow.read() as uow:
            return await uow.figures.points(period)

    async def referrals(self, period: Period, campaign_code: str | None = None) -> ReferralFigures:
        async with self._uow.read() as uow:
            return await uow.figures.referrals(period, campaign_code)

    async def support(self, period: Period) -> SupportFigures:
        async with self._uow.read() as uow:
            rows = await uow.figures.tickets(period)
        stats = support_stats([ticket_of(row) for row in rows])
        return SupportFigures(stats, sum(1 for row in rows if row.escalated_at is not None))
