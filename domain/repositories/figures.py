"""The dashboard's figures, as its service may ask for them of a read-only unit of work: each is
aggregated by the database, so only buckets and counts come back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from domain.figures import (
    Funnel,
    HourlySales,
    OfferFigures,
    Period,
    PointsFigures,
    ReferralFigures,
    Sales,
    SentMessage,
)
from domain.holdout import GroupOutcome
from domain.orders import OrderStatus

if TYPE_CHECKING:
    from domain.repositories import TicketRecord


class FigureReader(Protocol):
    async def orders_by_status(self) -> dict[OrderStatus, int]: ...

    async def sales_by_hour(
        self, period: Period, campaign_id: int | None = None
    ) -> list[HourlySales]:
        """Completed recharges by the UTC hour they completed in."""

    async def sales(self, period: Period, campaign_id: int | None = None) -> Sales: ...

    async def reached(self, period: Period) -> tuple[int, int, int]:
        """Customers seen in the period: (reached, started, bound a number)."""

    async def funnel(self, period: Period, campaign_id: int | None = None) -> Funnel: ...

    async def campaigns(self) -> list[tuple[int, str, str, str, datetime, datetime]]:
        """(id, code, name zh, name en, starts, ends) of every campaign, newest first."""

    async def offers(
        self, period: Period, campaign_id: int | None = None
    ) -> list[OfferFigures]: ...

    async def points(self, period: Period) -> PointsFigures: ...

    async def referrals(
        self, period: Period, campaign_code: str | None = None
    ) -> ReferralFigures: ...

    async def holdout_groups(
        self, period: Period, campaign_code: str, control_buckets: int
    ) -> tuple[GroupOutcome, GroupOutcome, list[int]]:
        """(every customer, the control group: those whose bucket in the campaign is below
        `control_buckets`), each of its customers who had started by the period's end with
        their completed recharges in it (any campaign or none); and the customers whose
        bucket is not kept yet (while there is one, the groups may count it in the wrong one:
        keep its bucket and read again)."""

    async def holdout_percent(self, campaign_id: int) -> tuple[str, int] | None:
        """(code, hold-out percent) of the campaign; None when there is no such campaign."""

    async def tickets(self, period: Period) -> list[TicketRecord]:
        """Tickets opened in the period."""


class PushFigureReader(Protocol):
    async def reminders_sent(self, period: Period, campaign_id: int | None) -> list[SentMessage]:
        """Reminders sent in the period (of one campaign, or all), keyed by campaign."""

    async def broadcasts_sent(self, period: Period, campaign_id: int | None) -> list[SentMessage]:
        """Pushes delivered in the period (of one campaign's broadcasts, or all), keyed by
        broadcast."""

    async def broadcast_texts(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        """(zh, en) text of each broadcast."""


class HoldoutBucketKeeper(Protocol):
    """Customers' hold-out buckets, kept once hashed."""

    async def keep(self, campaign_code: str, buckets: Iterable[tuple[int, int]]) -> None:
        """Keep these (customer, bucket) of the campaign; one kept already stays."""


class RollupFolder(Protocol):
    """The order changes the dashboard's roll-ups have not counted yet, and their fold."""

    async def pending(self) -> bool:
        """Whether any change waits to be folded (a read)."""

    async def fold(self) -> int:
        """Fold a batch of the changes into the roll-ups, each exactly once however many folds
        run at once (in this unit of work: kept on its commit); how many it folded (a full
        batch when more may wait)."""


class OffersSeenRecorder(Protocol):
    """When customers first saw each campaign's offers (the funnel's "saw offers" step)."""

    async def record(self, customer_id: int, campaign_ids: Iterable[int], at: datetime) -> None:
        """Kept the first time for each customer and campaign only."""
