"""Campaigns and their offers, and the one engine that says what a recharge earns now.

Pure rules: no database. The preview before paying and the grant after paying both call
`evaluate`, so they always agree. Money is integer fen; percentages are basis points (1 % = 100).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.catalogue import ProductKind
from domain.money import Money
from domain.phone import Carrier
from domain.tiers import Tier

ZERO = Money(0)
# The campaign and offer code a customer's own coupon's benefit carries (no campaign's code:
# campaign and offer codes are letters, digits, '-', '_' and '.').
REWARD_COUPON_CAMPAIGN = "@reward-coupon"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"


class Audience(StrEnum):
    EVERYONE = "everyone"
    NEW_CUSTOMERS = "new_customers"
    EXISTING_CUSTOMERS = "existing_customers"
    TIER_AT_LEAST = "tier_at_least"
    CARRIER = "carrier"


class OfferKind(StrEnum):
    POINTS_MULTIPLIER = "points_multiplier"
    RED_PACKET = "threshold_red_packet"
    CASHBACK = "cashback_percent"
    FIRST_RECHARGE = "first_recharge_bonus"
    DENOMINATION_BONUS = "denomination_bonus"
    BUNDLE = "bundle"
    COUPON = "coupon"


@dataclass(frozen=True)
class Offer:
    """One rule: a condition and a benefit. Only the fields of its kind are used."""

    code: str
    kind: OfferKind
    # Global quota ("first 100 recharges") and how often one customer may use it.
    quota: int | None = None
    per_customer: int | None = None
    # Conditions.
    product_kinds: frozenset[ProductKind] = frozenset()
    min_amount: Money = ZERO
    # points_multiplier: 200 = ×2.
    multiplier_percent: int = 100
    # threshold_red_packet: every `every` in one recharge returns `returns` to the wallet.
    every: Money = ZERO
    returns: Money = ZERO
    # cashback_percent: basis points of the amount, capped per order and by a campaign budget.
    basis_points: int = 0
    cap: Money | None = None
    budget: Money | None = None
    # first_recharge_bonus / denomination_bonus: a wallet red packet and/or bonus points.
    bonus: Money = ZERO
    bonus_points: int = 0
    # denomination_bonus: (minimum amount, bonus) steps; the highest step reached applies.
    steps: tuple[tuple[Money, Money], ...] = ()
    # bundle: the recharge together with the named pack, at a discount off the pair.
    bundle_product: str | None = None
    discount: Money = ZERO
    # coupon: the code a customer types; expiry.
    coupon_code: str | None = None
    expires_at: datetime | None = None

    @property
    def uses_per_customer(self) -> int | None:
        """How many of its customer's orders may get it (None: any number). A first-recharge
        bonus goes to one order of a customer, however many are placed at once."""
        if self.kind is OfferKind.FIRST_RECHARGE:
            return 1 if self.per_customer is None else min(self.per_customer, 1)
        return self.per_customer


@dataclass(frozen=True)
class Campaign:
    code: str
    name_zh: str
    name_en: str
    terms_zh: str
    terms_en: str
    starts_at: datetime
    ends_at: datetime
    timezone: str = "Asia/Shanghai"
    status: CampaignStatus = CampaignStatus.ACTIVE
    audience: Audience = Audience.EVERYONE
    audience_tier: Tier | None = None
    audience_carrier: Carrier | None = None
    priority: int = 0
    # An exclusive campaign that applies is the only one that applies.
    exclusive: bool = False
    offers: tuple[Offer, ...] = ()
    # This share of customers (by a stable hash) is the control group: never offered it.
    holdout_percent: int = 0

    def live_at(self, moment: datetime) -> bool:
        return self.status is CampaignStatus.ACTIVE and self.starts_at <= moment < self.ends_at


@dataclass(frozen=True)
class Situation:
    """Everything the engine needs to know about one recharge, now."""

    now: datetime
    amount: Money
    product_kind: ProductKind
    carrier: Carrier
    tier: Tier
    # True until the customer's first completed recharge.
    new_customer: bool
    base_points: int
    coupon_code: str | None = None
    bundle_with: str | None = None
    # Quota slots left per offer code (absent: unlimited), uses by this customer, budget left.
    slots_left: Mapping[str, int] = field(default_factory=dict)
    used_by_customer: Mapping[str, int] = field(default_factory=dict)
    budget_left: Mapping[str, Money] = field(default_factory=dict)
    # The customer's own coupon (redeemed with points) put on this recharge: what it takes off.
    reward_coupon: Money = ZERO


@dataclass(frozen=True)
class Benefit:
    campaign: str
    offer: str
    kind: OfferKind
    discount: Money = ZERO
    cashback: Money = ZERO
    extra_points: int = 0
    multiplier_percent: int = 100
    # The text key that explains it, and its values.
    explanation: str = ""
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Quote:
    amount: Money
    price: Money
    cashback: Money
    points: int
    benefits: tuple[Benefit, ...]


def audience_matches(campaign: Campaign, situation: Situation) -> bool:
    match campaign.audience:
        case Audience.EVERYONE:
            return True
        case Audience.NEW_CUSTOMERS:
            return situation.new_customer
        case Audience.EXISTING_CUSTOMERS:
            return not situation.new_customer
        case Audience.TIER_AT_LEAST:
            return campaign.audience_tier is not None and situation.tier >= campaign.audience_tier
        case Audience.CARRIER:
            return situation.carrier is campaign.audience_carrier
    return False


def _available(offer: Offer, situation: Situation) -> bool:
    if offer.product_kinds and situation.product_kind not in offer.product_kinds:
        return False
    if situation.amount < offer.min_amount:
        return False
    if offer.quota is not None and situation.slots_left.get(offer.code, offer.quota) <= 0:
        return False
    used = situation.used_by_customer.get(offer.code, 0)
    uses = offer.uses_per_customer
    if uses is not None and used >= uses:
        return False
    return offer.expires_at is None or situation.now < offer.expires_at


def _benefit(campaign: Campaign, offer: Offer, situation: Situation) -> Benefit | None:
    amount = situation.amount
    base = (campaign.code, offer.code, offer.kind)
    match offer.kind:
        case OfferKind.POINTS_MULTIPLIER:
            if offer.multiplier_percent <= 100:
                return None
            return Benefit(
                *base,
                multiplier_percent=offer.multiplier_percent,
                explanation="offer.explain.multiplier",
                values=(("times", _times(offer.multiplier_percent)),),
            )
        case OfferKind.RED_PACKET:
            if offer.every.fen <= 0 or amount < offer.every:
                return None
            packets = amount.fen // offer.every.fen
            cashback = Money(packets * offer.returns.fen)
            return Benefit(
                *base,
                cashback=cashback,
                explanation="offer.explain.red_packet",
                values=(
                    ("every", offer.every.format()),
                    ("returns", offer.returns.format()),
                    ("total", cashback.format()),
                ),
            )
        case OfferKind.CASHBACK:
            cashback = Money(amount.fen * offer.basis_points // 10_000)
            if offer.cap is not None and cashback > offer.cap:
                cashback = offer.cap
            budget = situation.budget_left.get(offer.code, offer.budget)
            if budget is not None and cashback > budget:
                cashback = budget
            if not cashback.is_positive:
                return None
            return Benefit(
                *base,
                cashback=cashback,
                explanation="offer.explain.cashback",
                values=(("percent", _percent(offer.basis_points)), ("total", cashback.format())),
            )
        case OfferKind.FIRST_RECHARGE:
            if not situation.new_customer:
                return None
            return Benefit(
                *base,
                cashback=offer.bonus,
                extra_points=offer.bonus_points,
                explanation="offer.explain.first_recharge",
                values=(("bonus", offer.bonus.format()), ("points", str(offer.bonus_points))),
            )
        case OfferKind.DENOMINATION_BONUS:
            reached = [bonus for minimum, bonus in offer.steps if amount >= minimum]
            if not reached:
                return None
            bonus = max(reached)
            return Benefit(
                *base,
                cashback=bonus,
                explanation="offer.explain.denomination",
                values=(("bonus", bonus.format()),),
            )
        case OfferKind.BUNDLE:
            if offer.bundle_product is None or situation.bundle_with != offer.bundle_product:
                return None
            return Benefit(
                *base,
                discount=offer.discount,
                explanation="offer.explain.bundle",
                values=(("discount", offer.discount.format()),),
            )
        case OfferKind.COUPON:
            code = (situation.coupon_code or "").strip().upper()
            if not code or code != (offer.coupon_code or "").upper():
                return None
            return Benefit(
                *base,
                discount=offer.discount,
                explanation="offer.explain.coupon",
                values=(("code", code), ("discount", offer.discount.format())),
            )
    return None


def _times(percent: int) -> str:
    return f"{percent // 100}" if percent % 100 == 0 else f"{percent / 100:g}"


def _percent(basis_points: int) -> str:
    return f"{basis_points / 100:g}%"


def campaign_benefits(campaign: Campaign, situation: Situation) -> list[Benefit]:
    if not campaign.live_at(situation.now) or not audience_matches(campaign, situation):
        return []
    found = []
    for offer in campaign.offers:
        if _available(offer, situation):
            benefit = _benefit(campaign, offer, situation)
            if benefit is not None:
                found.append(benefit)
    return found


def evaluate(
    campaigns: Sequence[Campaign], situation: Situation, tier_multiplier_percent: int = 100
) -> Quote:
    """What this customer gets for this recharge now: price, cash-back, points, and why."""
    ordered = sorted(campaigns, key=lambda c: (-c.priority, c.code))
    chosen: list[Benefit] = []
    for campaign in ordered:
        benefits = campaign_benefits(campaign, situation)
        if not benefits:
            continue
        if campaign.exclusive:
            if not chosen:
                chosen = benefits
                break
            continue  # an exclusive campaign does not join others that already apply
        chosen.extend(benefits)
    if situation.reward_coupon.is_positive:  # the customer's own coupon joins any campaign
        chosen.append(
            Benefit(
                REWARD_COUPON_CAMPAIGN,
                REWARD_COUPON_CAMPAIGN,
                OfferKind.COUPON,
                discount=situation.reward_coupon,
                explanation="offer.explain.reward_coupon",
                values=(("discount", situation.reward_coupon.format()),),
            )
        )
    # Discounts never take the price below zero.
    discount = min(sum((b.discount for b in chosen), ZERO), max(situation.amount, ZERO))
    price = situation.amount - discount
    cashback = sum((b.cashback for b in chosen), ZERO)
    multiplier = max((b.multiplier_percent for b in chosen), default=100)
    points = situation.base_points * multiplier * tier_multiplier_percent // 10_000
    points += sum(b.extra_points for b in chosen)
    return Quote(situation.amount, price, cashback, points, tuple(chosen))
