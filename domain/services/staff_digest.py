"""The staff chat's daily digest: yesterday's figures, once a day, whatever the number of
processes and restarts (each day's digest is claimed by one sender and recorded sent)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.clock import Clock, utc_now
from domain.figures import DailyDigest, Period
from domain.repositories import UnitOfWorkFactory
from domain.services.dashboard_figures import DashboardFigures
from domain.services.pending_records import lapsed_by

# A sender that stopped midway leaves the day's digest to the next one after this long.
CLAIM_FOR = timedelta(minutes=5)
# The chart shows this many days, the digest's day last.
CHART_DAYS = 7


def day_period(day: date, zone: ZoneInfo) -> Period:
    """The local day `day` in `zone`, as UTC moments."""
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return Period(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")))


class StaffDigests:
    def __init__(
        self, uow: UnitOfWorkFactory, figures: DashboardFigures, clock: Clock = utc_now
    ) -> None:
        self._uow = uow
        self._figures = figures
        self._clock = clock

    def due(self, at: time, zone: ZoneInfo) -> date | None:
        """The day whose digest is due now: yesterday (local), once the local time of day
        has reached `at`; None before then."""
        local = self._clock().astimezone(zone)
        if local.time() < at:
            return None
        return local.date() - timedelta(days=1)

    async def claim(self, day: date, *, take_over: bool = True) -> bool:
        """Take the day's digest to send: True for one sender, while it is not sent yet. A
        lapsed claim of another sender is taken over only with `take_over`."""
        now = self._clock()
        lapsed = lapsed_by(now, take_over)
        async with self._uow() as uow:
            taken = await uow.staff_digests.claim(day.isoformat(), lapsed, now + CLAIM_FOR)
            await uow.commit()
        return taken

    async def sent(self, day: date, message_id: int | None) -> None:
        async with self._uow() as uow:
            await uow.staff_digests.sent(day.isoformat(), message_id, self._clock())
            await uow.commit()

    async def release(self, day: date) -> None:
        async with self._uow() as uow:
            await uow.staff_digests.release(day.isoformat())
            await uow.commit()

    async def figures(self, day: date, zone: ZoneInfo) -> DailyDigest:
        """The day's overview (against the day before), its tickets, and the yuan of each of
        the `CHART_DAYS` days up to it."""
        period = day_period(day, zone)
        overview = await self._figures.overview(period)
        support = await self._figures.support(period)
        first = day - timedelta(days=CHART_DAYS - 1)
        hours = await self._figures.sales_by_hour(day_period(first, zone).start, period.end)
        fen = {first + timedelta(days=n): 0 for n in range(CHART_DAYS)}
        for sale in hours:
            local_day = sale.hour.astimezone(zone).date()
            if local_day in fen:
                fen[local_day] += sale.fen
        return DailyDigest(
            day, overview, support.stats.tickets, support.sla_breaches, sorted(fen.items())
        )
