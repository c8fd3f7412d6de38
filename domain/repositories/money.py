"""What the services of an order's life and of loyalty may ask of the unit of work: products,
campaigns and their offers' slots, points (with their lapse), rewards and the coupons redeemed
for them, once-only notices, numbers' counts and risk cases (`MoneyUnitOfWork`).

Rows the database returns are read through read-only views (`CampaignView`, `OfferView`, …):
an ORM row and a Core row both satisfy them, and a service never sees which one it got.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.repositories import (
    ProductRepository,
    SlotClaim,
    UnitOfWork,
)
from domain.risk import RiskCase

# The statuses of an offer's slot held by an order.
HELD, GRANTED, RELEASED = "held", "granted", "released"


class CampaignView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def terms_zh(self) -> str: ...
    @property
    def terms_en(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def timezone(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def audience_tier(self) -> str | None: ...
    @property
    def audience_carrier(self) -> str | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def exclusive(self) -> bool: ...
    @property
    def extra(self) -> Mapping[str, object] | None: ...


class OfferView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def campaign_id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def params(self) -> Mapping[str, object]: ...
    @property
    def quota(self) -> int | None: ...
    @property
    def used(self) -> int: ...
    @property
    def per_customer(self) -> int | None: ...
    @property
    def budget_fen(self) -> int | None: ...
    @property
    def spent_fen(self) -> int: ...


# The campaigns live at a moment, each with its offers (`CampaignRepository.live`).
LiveCampaigns = Sequence[tuple[CampaignView, Sequence[OfferView]]]


class OfferUseView(OfferView, Protocol):
    """A live offer read for one customer: with the slots the customer holds or was granted."""

    @property
    def used_by_customer(self) -> int: ...


class OfferClaimView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def offer_id(self) -> int: ...
    @property
    def order_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def cashback_fen(self) -> int: ...
    @property
    def red_packet_fen(self) -> int: ...
    @property
    def bonus_points(self) -> int: ...
    @property
    def discount_fen(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def at(self) -> datetime: ...


class PointsEntryView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def points(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def order_id(self) -> int | None: ...
    @property
    def idempotency_key(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime | None: ...


class RewardView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def cost_points(self) -> int: ...
    @property
    def stock(self) -> int | None: ...
    @property
    def redeemed(self) -> int: ...
    @property
    def per_customer(self) -> int | None: ...
    @property
    def active(self) -> bool: ...
    @property
    def value_fen(self) -> int | None: ...
    @property
    def valid_days(self) -> int | None: ...
    @property
    def product_code(self) -> str | None: ...


class RedemptionView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def reward_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def points(self) -> int: ...
    @property
    def request_key(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def order_id(self) -> int | None: ...


class RewardCouponView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def redemption_key(self) -> str: ...
    @property
    def reward_code(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def value_fen(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def order_id(self) -> int | None: ...
    @property
    def used_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class LiveForCustomer:
    """What a quote for one customer reads: the live campaigns with their offers (each with
    `used_by_customer`, the slots this customer holds or was granted), the customer's total
    of completed recharges since a date (its tier) and its count of completed recharges."""

    campaigns: Sequence[tuple[CampaignView, Sequence[OfferUseView]]]
    recharge_total: int
    completed_recharges: int


@dataclass(frozen=True)
class Unspent:
    """What is left of one earned entry that lapses."""

    entry_id: int
    customer_id: int
    points: int
    lapses_at: datetime


@dataclass(frozen=True)
class LapseBatch:
    """One batch of the lapse sweep: how many customers it looked at and what lapsed."""

    customers: int
    points: int


@dataclass(frozen=True)
class LapseWarning:
    customer_id: int
    points: int
    lapses_at: datetime


@dataclass(frozen=True)
class NewRedemption:
    reward_id: int
    customer_id: int
    points: int
    request_key: str
    at: datetime
    order_id: int | None = None


@dataclass(frozen=True)
class NewRewardCoupon:
    customer_id: int
    redemption_key: str
    reward_code: str
    name_zh: str
    name_en: str
    value_fen: int
    currency: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class NewRiskCase:
    customer_id: int
    order_id: int | None
    rule: str
    action: str
    evidence: str
    status: str
    created_at: datetime
    alert_sent: bool = False
    customer_told: bool = True


class CampaignReader(Protocol):
    async def by_code(self, code: str) -> CampaignView | None: ...

    async def offers_by_code(self, codes: Iterable[str]) -> Mapping[str, OfferView]:
        """The offers of `codes` that exist, by code."""

    async def live(self, now: datetime) -> LiveCampaigns:
        """Campaigns whose window contains `now` (any status), each with its offers."""

    async def live_for_customer(
        self, now: datetime, customer_id: int, since: datetime
    ) -> LiveForCustomer: ...

    async def offers_of(self, campaign_id: int) -> Sequence[OfferView]: ...


class OfferClaimRepository(Protocol):
    async def claim(self, slot: SlotClaim, order_id: int, at: datetime) -> bool:
        """Take one of the offer's slots (and its cash-back from the budget) and one of the
        customer's uses of it, if both are left; False, with nothing taken, if not."""

    async def of_order(self, order_id: int) -> Sequence[OfferClaimView]: ...

    async def settle(self, claim: OfferClaimView, to_status: str) -> bool:
        """held -> granted, or held -> released (giving the slot and budget back)."""

    async def grant_all(self, order_id: int) -> None: ...

    async def withdraw(self, order_id: int) -> None:
        """Give back every slot the order holds and forget its claims."""


class PointsRepository(Protocol):
    async def open(self, customer_id: int) -> None: ...

    async def balance(self, customer_id: int) -> int: ...

    async def ledger_sum(self, customer_id: int) -> int: ...

    async def has_entry(self, key: str) -> bool: ...

    async def entry(self, key: str) -> PointsEntryView | None: ...

    async def post(
        self,
        customer_id: int,
        points: int,
        kind: str,
        key: str,
        at: datetime,
        *,
        order_id: int | None = None,
        expires_at: datetime | None = None,
        note: str = "",
    ) -> bool:
        """Move the balance with its ledger entry; False if it would go below zero. A replayed
        key raises `RecordConflict`."""

    async def entries(self, customer_id: int, limit: int) -> Sequence[PointsEntryView]: ...

    async def all_entries(self, customer_id: int) -> Sequence[PointsEntryView]: ...

    async def lapse_due(self, now: datetime, limit: int) -> LapseBatch:
        """Lapse the points past their date of up to `limit` customers due."""

    async def lapse_warnings_due(
        self, now: datetime, before: datetime, limit: int
    ) -> tuple[int, list[LapseWarning]]:
        """Up to `limit` customers whose points lapse by `before` and who were not warned of
        it: how many were looked at, and each warning due, marked given."""

    async def lapse_warning_undelivered(self, customer_id: int) -> None: ...

    async def recharge_total_since(self, customer_id: int, since: datetime) -> int: ...


class RewardRepository(Protocol):
    async def active(self) -> Sequence[RewardView]: ...

    async def get(self, reward_id: int) -> RewardView | None: ...

    def add_redemption(self, redemption: NewRedemption) -> None: ...

    async def redemption(self, request_key: str) -> RedemptionView | None: ...

    async def redemption_of_order(self, order_id: int) -> RedemptionView | None: ...

    async def give_back_stock(self, reward_id: int) -> None: ...

    async def take_stock(self, reward_id: int) -> bool:
        """Take one from stock if any is left: one conditional write."""


class RewardCouponRepository(Protocol):
    def add_coupon(self, coupon: NewRewardCoupon) -> None: ...

    async def get(self, coupon_id: int) -> RewardCouponView | None: ...

    async def by_key(self, redemption_key: str) -> RewardCouponView | None: ...

    async def usable(self, customer_id: int, now: datetime) -> Sequence[RewardCouponView]: ...

    async def take(self, coupon_id: int, customer_id: int, order_id: int, now: datetime) -> bool:
        """The order takes the customer's coupon if it is free and not expired (or it has it
        already): one conditional write."""

    async def give_back(self, order_id: int) -> None: ...


class NoticeRepository(Protocol):
    async def claim(self, key: str, customer_id: int, at: datetime) -> bool:
        """True for the one caller that records this notice first."""

    async def forget(self, key: str) -> None: ...


class NumberAllowanceRepository(Protocol):
    async def take(self, key: str, scope: str, amount: int, limit: int) -> bool:
        """Take `amount` of the number's count `scope` within `limit`, in one statement."""


class RiskRepository(Protocol):
    async def open_case(self, case: NewRiskCase) -> int: ...

    async def frozen(self, customer_id: int) -> bool: ...

    async def get(self, case_id: int) -> RiskCase | None: ...

    async def decide(
        self,
        case_id: int,
        from_statuses: Iterable[str],
        to_status: str,
        by: int,
        by_name: str,
        at: datetime,
    ) -> bool:
        """Record the decision once: only from one of `from_statuses`."""

    async def approve_first(self, case_id: int, by: int, by_name: str) -> bool: ...

    async def pending(self, limit: int) -> list[RiskCase]: ...

    async def unsent_alerts(self, limit: int) -> list[RiskCase]: ...

    async def untold_decisions(self, limit: int) -> list[RiskCase]: ...

    async def mark(self, case_id: int, flag: str, value: bool) -> bool: ...


class MoneyUnitOfWork(UnitOfWork, Protocol):
    """The unit of work of an order's life and of loyalty."""

    async def __aenter__(self) -> MoneyUnitOfWork: ...

    @property
    def products(self) -> ProductRepository: ...

    @property
    def campaigns(self) -> CampaignReader: ...

    @property
    def claims(self) -> OfferClaimRepository: ...

    @property
    def points(self) -> PointsRepository: ...

    @property
    def rewards(self) -> RewardRepository: ...

    @property
    def reward_coupons(self) -> RewardCouponRepository: ...

    @property
    def notices(self) -> NoticeRepository: ...

    @property
    def number_allowances(self) -> NumberAllowanceRepository: ...

    @property
    def risk(self) -> RiskRepository: ...


class MoneyUnitOfWorkFactory(Protocol):
    """Makes a fresh money unit of work for each use case; `read()` for one that only reads,
    `single_statement()` for one that writes with exactly one statement (it commits by itself,
    so two would not be one transaction)."""

    def __call__(self) -> MoneyUnitOfWork: ...

    def read(self) -> MoneyUnitOfWork: ...

    def single_statement(self) -> MoneyUnitOfWork: ...
