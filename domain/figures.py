"""The figures the campaign dashboard shows, as typed values (money in fen, never a float).

Definitions (each page says the same in its notes):
- reached: customers who wrote to the bot in the period (first contact or later, as far as the
  last time seen tells); started: customers whose first contact was in the period; bound:
  customers who bound their first number in the period.
- a recharge is an order for call credit or data (not a wallet top-up, not a points reward)
  that completed in the period; for a campaign, one that took one of its offers.
- participation rate: paying customers / reached; ARPU: yuan / paying customers; repeat rate:
  customers with two or more recharges / paying customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from domain.tickets import SupportStats


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def before(self) -> Period:
        """The same length of time just before this period (sales before and after)."""
        return Period(self.start - self.length, self.start)


@dataclass(frozen=True)
class HourlySales:
    """Completed recharges that ended in one UTC hour."""

    hour: datetime
    count: int
    fen: int


@dataclass(frozen=True)
class Sales:
    recharges: int
    fen: int
    paying_customers: int
    repeat_customers: int

    @property
    def arpu_fen(self) -> int | None:
        """Yuan per paying customer, in fen (rounded half up); None without a paying one."""
        if not self.paying_customers:
            return None
        return (2 * self.fen + self.paying_customers) // (2 * self.paying_customers)

    @property
    def repeat_rate(self) -> float | None:
        return self.repeat_customers / self.paying_customers if self.paying_customers else None


@dataclass(frozen=True)
class Overview:
    period: Period
    reached: int
    started: int
    bound: int
    sales: Sales
    sales_before: Sales
    by_hour: list[HourlySales]
    by_hour_before: list[HourlySales]

    @property
    def participation_rate(self) -> float | None:
        return self.sales.paying_customers / self.reached if self.reached else None


@dataclass(frozen=True)
class FunnelStep:
    key: str
    customers: int


@dataclass(frozen=True)
class Funnel:
    """Customers who started in the period, and how many of them reached each later step."""

    steps: list[FunnelStep]

    def drops(self) -> list[float | None]:
        """The share lost at each step from the one before (None for the first or after 0)."""
        shares: list[float | None] = [None]
        for before, step in zip(self.steps, self.steps[1:], strict=False):
            lost = 1 - step.customers / before.customers if before.customers else None
            shares.append(lost)
        return shares


@dataclass(frozen=True)
class OfferFigures:
    offer_id: int
    code: str
    kind: str
    quota: int | None
    used: int
    claims: int  # granted claims in the period
    cashback_fen: int  # all the wallet money those claims returned (red packets and cash-back)
    sold_out_at: datetime | None
    # (hour, slots left at its end) for each hour a slot was taken; only with a quota.
    burn_down: list[tuple[datetime, int]]
    # What those claims cost by kind: of the wallet money, the red packets; bonus points
    # beyond the base; discounts off the price.
    red_packet_fen: int = 0
    bonus_points: int = 0
    discount_fen: int = 0
    # A coupon offer: its codes handed out in the period (None: not a coupon offer).
    coupons_issued: int | None = None

    @property
    def cash_back_fen(self) -> int:
        """The percentage cash-back of the claims (their wallet money less red packets)."""
        return self.cashback_fen - self.red_packet_fen

    def points_fen(self, fen_per_100_points: int) -> int:
        """The bonus points at `fen_per_100_points` for each 100, in fen (half up)."""
        return (2 * self.bonus_points * fen_per_100_points + 100) // 200

    def cost_fen(self, fen_per_100_points: int) -> int:
        """Everything the claims cost: red packets, cash-back, discounts and bonus points."""
        return self.cashback_fen + self.discount_fen + self.points_fen(fen_per_100_points)

    @property
    def redemption_rate(self) -> float | None:
        """Coupons used (granted claims) per coupon handed out in the period; None when none
        was handed out (or it is no coupon offer). A code shared or published elsewhere
        counts its every use, so this may pass 100 %."""
        return self.claims / self.coupons_issued if self.coupons_issued else None


@dataclass(frozen=True)
class PointsFigures:
    earned: int
    redeemed: int
    lapsed: int
    liability: int  # points held by customers now


@dataclass(frozen=True)
class ReferralFigures:
    inviters: int
    joined: int
    qualified: int
    held: int
    rewards_claimed: int

    @property
    def invites_per_inviter(self) -> float | None:
        return self.joined / self.inviters if self.inviters else None

    @property
    def qualify_rate(self) -> float | None:
        return self.qualified / self.joined if self.joined else None

    @property
    def k_factor(self) -> float | None:
        """Invites per inviter × the rate at which invites qualify."""
        if self.invites_per_inviter is None or self.qualify_rate is None:
            return None
        return self.invites_per_inviter * self.qualify_rate


@dataclass(frozen=True)
class SupportFigures:
    stats: SupportStats
    sla_breaches: int


@dataclass(frozen=True)
class PushOutcome:
    """Messages sent unasked (reminders of a campaign, or one broadcast) in the period: how many
    were sent, opened (a button on them pressed) and followed by a recharge of the customer
    within 24 hours."""

    key: int  # the campaign (reminders) or the broadcast
    campaign_id: int | None
    sent: int
    opened: int
    recharged: int

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.sent if self.sent else None

    @property
    def recharge_rate(self) -> float | None:
        return self.recharged / self.sent if self.sent else None


# A reminder or push sent: (its campaign or broadcast, campaign, a button pressed, sent at, the
# customer's first completed recharge since then).
SentMessage = tuple[int, int | None, bool, datetime | None, datetime | None]


@dataclass(frozen=True)
class PushesFigures:
    reminders: list[PushOutcome]  # one per campaign
    broadcasts: list[PushOutcome]  # one per broadcast
    broadcast_texts: dict[int, tuple[str, str]]  # broadcast -> (zh, en)


@dataclass(frozen=True)
class DailyDigest:
    """One local day's figures for the staff chat, with the days before it for a chart."""

    day: date
    overview: Overview  # the day, against the day before
    tickets: int  # opened that day
    sla_breaches: int  # of those, raised for waiting too long
    # Yuan of completed recharges (in fen) of each local day, the oldest first, `day` last.
    by_day: list[tuple[date, int]]
