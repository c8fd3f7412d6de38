"""Hold-out groups: whether a customer is in a campaign's control group, and the uplift of the
treated group over it with a 95 % confidence interval.

A campaign file may set `holdout_percent`; a customer is in control when a stable hash of
(campaign code, customer id) falls in the first `holdout_percent` of 10,000 buckets. The same
customer is always in the same group of a campaign, in every process, and groups of different
campaigns are independent. Control customers never see that campaign's offers or reminders;
nothing else differs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

MAX_HOLDOUT_PERCENT = 50
Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
# Below this many customers in a group, or fewer than this many with (and without) a recharge,
# the normal approximation behind the interval does not hold: the page says it cannot tell.
MIN_GROUP = 30
MIN_EVENTS = 5


BUCKETS = 10_000


def holdout_bucket(campaign_code: str, customer_id: int) -> int:
    """The customer's bucket (0 to 9,999) in the campaign: a stable hash of both."""
    digest = hashlib.sha256(f"holdout:{campaign_code}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def control_buckets(holdout_percent: int) -> int:
    """How many of the first buckets are the control group."""
    return max(holdout_percent, 0) * BUCKETS // 100


def in_control(campaign_code: str, customer_id: int, holdout_percent: int) -> bool:
    if holdout_percent <= 0:
        return False
    return holdout_bucket(campaign_code, customer_id) < control_buckets(holdout_percent)


@dataclass(frozen=True)
class GroupOutcome:
    """One group's customers, how many recharged, and the fen they spent (sum and sum of
    squares per customer, for the variance of ¥ per customer)."""

    customers: int
    recharged: int
    fen: int
    fen_squared: int

    def less(self, other: GroupOutcome) -> GroupOutcome:
        """This group without the customers of `other`, a part of it."""
        return GroupOutcome(
            self.customers - other.customers,
            self.recharged - other.recharged,
            self.fen - other.fen,
            self.fen_squared - other.fen_squared,
        )

    @property
    def rate(self) -> float | None:
        return self.recharged / self.customers if self.customers else None

    @property
    def fen_per_customer(self) -> float | None:
        return self.fen / self.customers if self.customers else None

    @property
    def fen_variance(self) -> float | None:
        """The sample variance of fen per customer (n - 1)."""
        n = self.customers
        if n < 2:
            return None
        mean = self.fen / n
        return max(self.fen_squared - n * mean * mean, 0.0) / (n - 1)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Uplift:
    treated: GroupOutcome
    control: GroupOutcome
    # Treated rate - control rate, with its 95 % interval (unpooled two-proportion formula).
    rate: Interval | None
    # Treated - control fen per customer, with its 95 % interval (Welch, normal).
    fen_per_customer: Interval | None
    # Whether the groups are large enough for the intervals to mean anything.
    enough: bool

    @property
    def relative(self) -> float | None:
        """The rate's uplift as a share of the control's rate."""
        if self.rate is None or not self.control.rate:
            return None
        return self.rate.estimate / self.control.rate


def _enough(group: GroupOutcome) -> bool:
    return (
        group.customers >= MIN_GROUP
        and group.recharged >= MIN_EVENTS
        and group.customers - group.recharged >= MIN_EVENTS
    )


def uplift(treated: GroupOutcome, control: GroupOutcome) -> Uplift:
    rate = None
    if treated.rate is not None and control.rate is not None:
        p1, p0 = treated.rate, control.rate
        se = math.sqrt(p1 * (1 - p1) / treated.customers + p0 * (1 - p0) / control.customers)
        d = p1 - p0
        rate = Interval(d, d - Z_95 * se, d + Z_95 * se)
    money = None
    v1, v0 = treated.fen_variance, control.fen_variance
    m1, m0 = treated.fen_per_customer, control.fen_per_customer
    if v1 is not None and v0 is not None and m1 is not None and m0 is not None:
        se = math.sqrt(v1 / treated.customers + v0 / control.customers)
        d = m1 - m0
        money = Interval(d, d - Z_95 * se, d + Z_95 * se)
    return Uplift(treated, control, rate, money, _enough(treated) and _enough(control))
