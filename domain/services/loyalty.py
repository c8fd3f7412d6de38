"""Offers, points and tiers as use cases: quotes, quota claims, grants, reversals, redemption.

The recharge use cases call `hold`, `grant` and `release` inside their own transactions, so an
order's benefits move together with its state: claimed when the paid order is sent to the
carrier, granted when it is completed, given back when it expires or is refunded. An order is
completed together with what it is granted (`grant_of`), in one write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.allowances import UNLIMITED, reward_scope
from domain.campaigns import (
    REWARD_COUPON_CAMPAIGN,
    Audience,
    Benefit,
    Campaign,
    CampaignStatus,
    Offer,
    OfferKind,
    Quote,
    Situation,
    evaluate,
)
from domain.catalogue import ProductKind
from domain.clock import Clock, utc_now
from domain.errors import RecordConflict
from domain.holdout import in_control
from domain.money import CNY, Money
from domain.observations import UNOBSERVED, Observations
from domain.orders import CHINA, OrderPurpose, OrderStatus, PaymentMethod
from domain.phone import Carrier, PhoneNumber
from domain.repositories import (
    Cashback,
    Grant,
    NewOrder,
    OrderRecord,
    PointsEarning,
    ProductRecord,
    SlotClaim,
)
from domain.repositories.money import (
    RELEASED,
    CampaignView,
    LiveCampaigns,
    MoneyUnitOfWork,
    MoneyUnitOfWorkFactory,
    NewRedemption,
    NewRewardCoupon,
    OfferView,
    RewardCouponView,
    RewardView,
)
from domain.tiers import DEFAULT_TIERS, Tier, TierRule, next_tier, tier_for

log = logging.getLogger(__name__)

# Customers the points sweep takes in one transaction: small enough that no batch holds the
# event loop long (each is committed before the next is read).
LAPSE_BATCH = 100
MONEY_PARAMS = ("min_amount", "every", "returns", "cap", "budget", "bonus", "discount")


@dataclass(frozen=True)
class LoyaltyConfig:
    points_per_yuan: int = 1
    expiry_months: int = 12
    tiers: tuple[TierRule, ...] = DEFAULT_TIERS


@dataclass(frozen=True)
class LiveOffer:
    campaign: Campaign
    offer: Offer
    slots_left: int | None
    ends_at: datetime
    # The rows they are kept in (what a reminder is set on).
    campaign_id: int
    offer_id: int


@dataclass(frozen=True)
class Standing:
    points: int
    tier: TierRule
    total_12_months: Money
    next_tier: tuple[TierRule, Money] | None
    expiring_soon: int
    expiring_by: datetime | None


# -- conversions between rows and the engine's values ------------------------------------------
def offer_params(offer: Offer) -> dict[str, Any]:
    """An offer's own parameters as JSON (money in fen)."""
    params: dict[str, Any] = {
        "product_kinds": sorted(k.value for k in offer.product_kinds),
        "multiplier_percent": offer.multiplier_percent,
        "basis_points": offer.basis_points,
        "bonus_points": offer.bonus_points,
        "steps": [[lo.fen, bonus.fen] for lo, bonus in offer.steps],
        "bundle_product": offer.bundle_product,
        "coupon_code": offer.coupon_code,
        "expires_at": offer.expires_at.isoformat() if offer.expires_at else None,
    }
    for name in MONEY_PARAMS:
        value = getattr(offer, name)
        params[name] = value.fen if isinstance(value, Money) else None
    return params


def offer_of(row: OfferView) -> Offer:
    p: dict[str, Any] = dict(row.params)
    money = {name: Money(int(p[name])) for name in MONEY_PARAMS if p.get(name) is not None}
    return Offer(
        code=row.code,
        kind=OfferKind(row.kind),
        quota=row.quota,
        per_customer=row.per_customer,
        product_kinds=frozenset(ProductKind(k) for k in p.get("product_kinds", [])),
        multiplier_percent=int(p.get("multiplier_percent", 100)),
        basis_points=int(p.get("basis_points", 0)),
        bonus_points=int(p.get("bonus_points", 0)),
        steps=tuple((Money(int(a)), Money(int(b))) for a, b in p.get("steps", [])),
        bundle_product=p.get("bundle_product"),
        coupon_code=p.get("coupon_code"),
        expires_at=datetime.fromisoformat(p["expires_at"]) if p.get("expires_at") else None,
        **money,  # type: ignore[arg-type]
    )


def campaign_of(row: CampaignView, offers: Sequence[OfferView]) -> Campaign:
    return Campaign(
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        terms_zh=row.terms_zh,
        terms_en=row.terms_en,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        timezone=row.timezone,
        status=CampaignStatus(row.status),
        audience=Audience(row.audience),
        audience_tier=Tier[row.audience_tier.upper()] if row.audience_tier else None,
        audience_carrier=Carrier(row.audience_carrier) if row.audience_carrier else None,
        priority=row.priority,
        exclusive=row.exclusive,
        offers=tuple(offer_of(o) for o in offers),
        holdout_percent=holdout_percent_of(row),
    )


def holdout_percent_of(row: CampaignView) -> int:
    value = (row.extra or {}).get("holdout_percent", 0)
    return value if isinstance(value, int) else 0


def held_out(row: CampaignView, customer_id: int) -> bool:
    """Whether the customer is in the campaign's control group (never offered it)."""
    return in_control(row.code, customer_id, holdout_percent_of(row))


def live_offers_in(
    found: LiveCampaigns, now: datetime, customer_id: int | None = None
) -> list[LiveOffer]:
    """The offers of the campaigns `found` (`campaigns.live`) that are live at `now`; for a
    customer, without those of campaigns that hold them out."""
    live = []
    for row, offers in found:
        campaign = campaign_of(row, offers)
        if not campaign.live_at(now):
            continue
        if customer_id is not None and held_out(row, customer_id):
            continue
        for offer_row, offer in zip(offers, campaign.offers, strict=True):
            left = None if offer_row.quota is None else offer_row.quota - offer_row.used
            live.append(LiveOffer(campaign, offer, left, campaign.ends_at, row.id, offer_row.id))
    return live


def quote_json(quote: Quote) -> dict[str, Any]:
    return {
        "amount": quote.amount.fen,
        "price": quote.price.fen,
        "cashback": quote.cashback.fen,
        "points": quote.points,
        "benefits": [
            {
                "campaign": b.campaign,
                "offer": b.offer,
                "kind": b.kind.value,
                "discount": b.discount.fen,
                "cashback": b.cashback.fen,
                "extra_points": b.extra_points,
                "multiplier_percent": b.multiplier_percent,
                "explanation": b.explanation,
                "values": [list(v) for v in b.values],
            }
            for b in quote.benefits
        ],
    }


def quote_from_json(data: dict[str, Any]) -> Quote:
    return Quote(
        amount=Money(int(data["amount"])),
        price=Money(int(data["price"])),
        cashback=Money(int(data["cashback"])),
        points=int(data["points"]),
        benefits=tuple(
            Benefit(
                campaign=b["campaign"],
                offer=b["offer"],
                kind=OfferKind(b["kind"]),
                discount=Money(int(b["discount"])),
                cashback=Money(int(b["cashback"])),
                extra_points=int(b["extra_points"]),
                multiplier_percent=int(b["multiplier_percent"]),
                explanation=b["explanation"],
                values=tuple((str(k), str(v)) for k, v in b["values"]),
            )
            for b in data["benefits"]
        ),
    )


# Offers whose wallet money is a red packet (the rest of the kinds that return money give
# percentage cash-back).
RED_PACKETS = frozenset(
    {OfferKind.RED_PACKET, OfferKind.FIRST_RECHARGE, OfferKind.DENOMINATION_BONUS}
)


def multiplier_points(quote: Quote) -> dict[str, int]:
    """The points a quote's multiplier offer adds beyond ×1, by its offer code: the points
    not of a bonus, less what they would be without the multiplier. Of several multipliers
    only the highest applies (the first of them, on a tie)."""
    chosen = max(quote.benefits, key=lambda b: b.multiplier_percent, default=None)
    if chosen is None or chosen.multiplier_percent <= 100:
        return {}
    multiplied = quote.points - sum(b.extra_points for b in quote.benefits)
    extra = multiplied - multiplied * 100 // chosen.multiplier_percent
    return {chosen.offer: extra} if extra > 0 else {}


def end_of_twelfth_month(earned_at: datetime, months: int = 12) -> datetime:
    """Points earned in November 2026 lapse at the end of November 2027 (Beijing time)."""
    local = earned_at.astimezone(CHINA)
    index = local.year * 12 + (local.month - 1) + months + 1  # the month after the twelfth
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=CHINA)


class LoyaltyService:
    def __init__(self, uow: MoneyUnitOfWorkFactory, config: LoyaltyConfig, clock: Clock = utc_now):
        self._uow = uow
        self.config = config
        self._clock = clock
        # What the operators are told as it happens (`domain.observations`).
        self.observed: Observations = UNOBSERVED

    # -- reading ------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock()

    async def live_offers(self, customer_id: int | None = None) -> list[LiveOffer]:
        """The offers live now; for a customer, without those of campaigns that hold them out."""
        now = self._clock()
        async with self._uow.read() as uow:
            found = await uow.campaigns.live(now)
        return live_offers_in(found, now, customer_id)

    async def campaign(self, code: str) -> Campaign | None:
        async with self._uow.read() as uow:
            row = await uow.campaigns.by_code(code)
            if row is None:
                return None
            return campaign_of(row, await uow.campaigns.offers_of(row.id))

    async def standing(self, customer_id: int, warn_within: timedelta) -> Standing:
        now = self._clock()
        async with self._uow.read() as uow:
            points = await uow.points.balance(customer_id)
            total = Money(
                await uow.points.recharge_total_since(customer_id, now - timedelta(days=365))
            )
            lapsing = _lapsing(await uow.points.all_entries(customer_id), now + warn_within)
        rule = tier_for(total, self.config.tiers)
        soon = sum(points for _, points, _ in lapsing)
        by = min((when for _, _, when in lapsing), default=None)
        return Standing(points, rule, total, next_tier(total, self.config.tiers), soon, by)

    async def entries(self, customer_id: int, limit: int = 5) -> list[tuple[int, str, datetime]]:
        async with self._uow.read() as uow:
            rows = await uow.points.entries(customer_id, limit)
        return [(r.points, r.kind, r.at) for r in rows]

    async def balance(self, customer_id: int) -> tuple[int, int]:
        """(running balance, sum of the ledger): always equal."""
        async with self._uow.read() as uow:
            return await uow.points.balance(customer_id), await uow.points.ledger_sum(customer_id)

    # -- inside recharge transactions --------------------------------------------------------
    async def quote_in(
        self,
        uow: MoneyUnitOfWork,
        customer_id: int,
        amount: Money,
        product_kind: ProductKind,
        carrier: Carrier,
        *,
        coupon_code: str | None = None,
        bundle_with: str | None = None,
        exhausted: frozenset[str] = frozenset(),
        reward_coupon: Money | None = None,
    ) -> Quote:
        now = self._clock()
        found = await uow.campaigns.live_for_customer(now, customer_id, now - timedelta(days=365))
        live = [(row, rows) for row, rows in found.campaigns if not held_out(row, customer_id)]
        offers = [o for _, rows in live for o in rows]
        total = Money(found.recharge_total)
        rule = tier_for(total, self.config.tiers)
        base_points = amount.fen // 100 * self.config.points_per_yuan
        own = reward_coupon if reward_coupon is not None else Money(0, amount.currency)
        if not offers and not own.is_positive:
            # no campaign live: base points times the tier's multiplier
            points = base_points * rule.multiplier_percent // 100
            return Quote(amount, amount, Money(0, amount.currency), points, ())
        situation = Situation(
            now=now,
            amount=amount,
            product_kind=product_kind,
            carrier=carrier,
            tier=rule.tier,
            new_customer=found.completed_recharges == 0,
            base_points=base_points,
            coupon_code=coupon_code,
            bundle_with=bundle_with,
            slots_left={
                o.code: 0 if o.code in exhausted else o.quota - o.used
                for o in offers
                if o.quota is not None
            },
            used_by_customer={o.code: o.used_by_customer for o in offers},
            budget_left={
                o.code: Money(0 if o.code in exhausted else o.budget_fen - o.spent_fen)
                for o in offers
                if o.budget_fen is not None
            },
            reward_coupon=own,
        )
        campaigns = [campaign_of(row, rows) for row, rows in live]
        return evaluate(campaigns, situation, rule.multiplier_percent)

    async def quote_of(
        self,
        uow: MoneyUnitOfWork,
        order: OrderRecord,
        exhausted: frozenset[str] = frozenset(),
        *,
        coupon_lost: bool = False,
        with_coupon: Money | None = None,
    ) -> Quote | None:
        """The quote a recharge order gets now, leaving out the `exhausted` offers, and the
        customer's own coupon when it was `coupon_lost` to another order; `with_coupon`: priced
        with a coupon of this value the order is about to take (None: it is not a recharge of
        a product)."""
        if order.purpose != "recharge" or order.product_kind is None or order.carrier is None:
            return None
        coupon = with_coupon
        if coupon is None and not coupon_lost:
            coupon = await self._reward_coupon_of(uow, order)
        return await self.quote_in(
            uow,
            order.customer_id,
            Money(order.list_price_fen or order.amount_fen, order.currency),
            ProductKind(order.product_kind),
            Carrier(order.carrier),
            coupon_code=order.coupon_code,
            bundle_with=order.bundle_product_code,
            exhausted=exhausted,
            reward_coupon=coupon,
        )

    async def _reward_coupon_of(self, uow: MoneyUnitOfWork, order: OrderRecord) -> Money | None:
        """What the customer's own coupon on this order takes off: only while the order is
        priced with it, and the coupon is not another order's or expired."""
        if order.reward_coupon_id is None or not priced_with_reward_coupon(order.quote):
            return None
        coupon = await uow.reward_coupons.get(order.reward_coupon_id)
        if coupon is None or coupon.customer_id != order.customer_id:
            return None
        if coupon.order_id not in (None, order.id) or coupon.expires_at <= self._clock():
            return None
        return Money(coupon.value_fen, coupon.currency)

    async def take_reward_coupon(self, uow: MoneyUnitOfWork, order: OrderRecord) -> bool:
        """The order takes the customer's own coupon it is priced with (one conditional write:
        of two orders paid at once with the same coupon, one gets it). False only when another
        order took it first (or it expired); True when the order has it now or has none."""
        if order.reward_coupon_id is None or not priced_with_reward_coupon(order.quote):
            return True
        return await uow.reward_coupons.take(
            order.reward_coupon_id, order.customer_id, order.id, self._clock()
        )

    async def hold(self, uow: MoneyUnitOfWork, order: OrderRecord) -> Quote | None:
        """When a paid order is carried on: claim the slots of the offers the order gets;
        what is gone is dropped, and the order keeps the quote it was held at."""
        exhausted: set[str] = set()
        kept = order.quote
        coupon_lost = not await self.take_reward_coupon(uow, order)
        for _ in range(10):
            quote = await self.quote_of(uow, order, frozenset(exhausted), coupon_lost=coupon_lost)
            if quote is None:
                return None
            held = quote_json(quote)
            if held != kept:  # what the order was created with, most often
                # Written before any slot is taken: an offer's row stays locked from its
                # claim to the commit, so nothing else is sent in between.
                await uow.orders.set_values(order.id, quote=held)
                kept = held
            lost = await self._claim_all(uow, order, quote) if quote.benefits else set()
            if not lost:
                return quote
            exhausted |= lost
        return None

    async def slot_claims(
        self, uow: MoneyUnitOfWork, order: OrderRecord, quote: Quote
    ) -> dict[str, SlotClaim]:
        """The slots `order` has still to take for the benefits of `quote`, by offer code."""
        claimed = {c.offer_id for c in await uow.claims.of_order(order.id)}
        offers = await uow.campaigns.offers_by_code([b.offer for b in quote.benefits])
        multiplied = multiplier_points(quote)
        return {
            benefit.offer: SlotClaim(
                offer.id,
                order.customer_id,
                benefit.cashback.fen,
                offer_of(offer).uses_per_customer,
                red_packet_fen=benefit.cashback.fen if benefit.kind in RED_PACKETS else 0,
                bonus_points=benefit.extra_points + multiplied.get(benefit.offer, 0),
                discount_fen=benefit.discount.fen,
            )
            for benefit in quote.benefits
            if (offer := offers.get(benefit.offer)) is not None and offer.id not in claimed
        }

    async def _claim_all(self, uow: MoneyUnitOfWork, order: OrderRecord, quote: Quote) -> set[str]:
        lost: set[str] = set()
        for code, slot in (await self.slot_claims(uow, order, quote)).items():
            won = await uow.claims.claim(slot, order.id, self._clock())
            self.observed.quota_claim(won)
            if not won:
                lost.add(code)
        if lost:  # give back what this round took; the next round claims again without them
            await uow.claims.withdraw(order.id)
        return lost

    def grant_of(self, order_id: int, quote: Quote | None) -> Grant | None:
        """What completing an order of this quote grants (None: nothing): its points, its
        cash-back, and the slots of its benefits (claimed by `hold`)."""
        if quote is None:
            return None
        earning = None
        if quote.points > 0:
            expires_at = end_of_twelfth_month(self._clock(), self.config.expiry_months)
            earning = PointsEarning(quote.points, f"earn:{order_id}", expires_at)
        cashback = None
        if quote.cashback.is_positive:
            cashback = Cashback(quote.cashback.fen, CNY, f"cashback:{order_id}")
        grant = Grant(earning, cashback, claims=bool(quote.benefits))
        return grant if grant else None

    async def grant(self, uow: MoneyUnitOfWork, order: OrderRecord) -> None:
        """On completion, for an order moved without its grant: points into the ledger,
        cash-back into the wallet, claims granted; a replay changes nothing."""
        grant = self.grant_of(order.id, quote_from_json(order.quote) if order.quote else None)
        if grant is not None:
            await uow.orders.grant(order.id, order.customer_id, grant, self._clock())

    async def release(self, uow: MoneyUnitOfWork, order_id: int) -> None:
        """On expiry or refund: slots and budget go back; anything granted is reversed."""
        for claim in await uow.claims.of_order(order_id):
            await uow.claims.settle(claim, RELEASED)
        await uow.reward_coupons.give_back(order_id)
        order = await uow.orders.get(order_id)
        if order is None:
            return
        if order.purpose == OrderPurpose.REWARD.value:
            await self._give_back_redemption(uow, order_id)
            return
        earned = await uow.points.entry(f"earn:{order_id}")
        if earned is not None and not await uow.points.has_entry(f"reverse:{order_id}"):
            balance = await uow.points.balance(order.customer_id)
            take = min(earned.points, balance)  # never below zero; a shortfall is logged
            if take < earned.points:
                log.warning("order %s: %d points already spent", order_id, earned.points - take)
            await uow.points.post(
                order.customer_id,
                -take,
                "reverse",
                f"reverse:{order_id}",
                self._clock(),
                order_id=order_id,
            )

    async def _give_back_redemption(self, uow: MoneyUnitOfWork, order_id: int) -> None:
        """A data pack the carrier could not top up: the points, the stock and the customer's
        use of the reward come back, once."""
        redemption = await uow.rewards.redemption_of_order(order_id)
        key = f"redeem-back:{order_id}"
        if redemption is None or await uow.points.has_entry(key):
            return
        await uow.points.post(
            redemption.customer_id,
            redemption.points,
            "redeem_back",
            key,
            self._clock(),
            order_id=order_id,
        )
        await uow.rewards.give_back_stock(redemption.reward_id)
        await uow.allowances.give_back(
            redemption.customer_id, reward_scope(redemption.reward_id), 1
        )

    async def lapse_warnings(self, within: timedelta) -> list[tuple[int, int, datetime]]:
        """(customer, points, date) for each customer whose points lapse within `within` and
        who was not warned about that date yet; each is claimed, so it is warned once. Only
        the customers due are read, in batches."""
        now = self._clock()
        due: list[tuple[int, int, datetime]] = []
        while True:
            async with self._uow() as uow:
                looked_at, warnings = await uow.points.lapse_warnings_due(
                    now, now + within, LAPSE_BATCH
                )
                for warning in warnings:
                    key = (
                        f"points-lapse:{warning.customer_id}:{warning.lapses_at.date().isoformat()}"
                    )
                    if await uow.notices.claim(key, warning.customer_id, now):
                        due.append((warning.customer_id, warning.points, warning.lapses_at))
                await uow.commit()
            if looked_at < LAPSE_BATCH:
                return due

    async def unclaim_warning(self, customer_id: int, when: datetime) -> None:
        """The warning could not be delivered: the next sweep tries again."""
        async with self._uow() as uow:
            await uow.notices.forget(f"points-lapse:{customer_id}:{when.date().isoformat()}")
            await uow.points.lapse_warning_undelivered(customer_id)
            await uow.commit()

    # -- redemption and expiry ------------------------------------------------------------------
    async def expire_points(self) -> int:
        """Points past their date lapse, oldest first; returns how many lapsed. Safe twice.
        Only the customers due are read, in batches; those whose points lapsed are not read
        again until their next points are due."""
        now = self._clock()
        lapsed = 0
        while True:
            async with self._uow() as uow:
                batch = await uow.points.lapse_due(now, LAPSE_BATCH)
                await uow.commit()
            lapsed += batch.points
            if batch.customers < LAPSE_BATCH:
                return lapsed


def priced_with_reward_coupon(quote: dict[str, Any] | None) -> bool:
    return quote is not None and any(
        b.get("campaign") == REWARD_COUPON_CAMPAIGN for b in quote.get("benefits", ())
    )


def _lapsing(entries: Sequence[Any], before: datetime) -> list[tuple[int, int, datetime]]:
    """(entry id, points still unspent, expiry) of earned entries lapsing by `before`.

    Spending (redeem, expire, reverse) is taken from the oldest earned points first.
    """
    consumed = -sum(e.points for e in entries if e.points < 0)
    remaining: list[tuple[int, int, datetime]] = []
    for entry in sorted((e for e in entries if e.points > 0), key=lambda e: (e.at, e.id)):
        use = min(entry.points, consumed)
        consumed -= use
        left = entry.points - use
        if entry.expires_at is not None and entry.expires_at <= before and left > 0:
            remaining.append((entry.id, left, entry.expires_at))
    return remaining


@dataclass(frozen=True)
class Reward:
    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    cost_points: int
    left: int | None
    per_customer: int | None
    # A coupon: what it takes off a recharge and for how many days it can be used.
    value: Money | None = None
    valid_days: int | None = None

    def name(self, language_code: str) -> str:
        return self.name_en if language_code == "en" else self.name_zh


@dataclass(frozen=True)
class RewardCoupon:
    """A coupon a customer redeemed points for: theirs alone, for one recharge, until it
    expires."""

    id: int
    name_zh: str
    name_en: str
    value: Money
    expires_at: datetime

    def name(self, language_code: str) -> str:
        return self.name_en if language_code == "en" else self.name_zh


@dataclass(frozen=True)
class Redemption:
    """What a redemption delivered: the reward, and the coupon it gave (for a coupon)."""

    reward: Reward
    coupon: RewardCoupon | None = None
    # A data pack: the order that tops it up (paid, to be carried on by the recharge service).
    order_id: int | None = None


class RedeemRefused(Exception):
    """reason: "unknown", "out_of_stock", "limit", "not_enough_points", or for a data pack
    "number_needed" (no number given) or "carrier" (the pack does not serve its carrier), or
    "frozen" (a risk rule froze the account until staff release it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reward_of(row: RewardView) -> Reward:
    left = None if row.stock is None else row.stock - row.redeemed
    return Reward(
        row.id,
        row.code,
        row.kind,
        row.name_zh,
        row.name_en,
        row.cost_points,
        left,
        row.per_customer,
        Money(row.value_fen) if row.value_fen is not None else None,
        row.valid_days,
    )


def reward_coupon_of(row: RewardCouponView) -> RewardCoupon:
    return RewardCoupon(
        row.id, row.name_zh, row.name_en, Money(row.value_fen, row.currency), row.expires_at
    )


class RewardCatalogue:
    """Redeeming points for coupons and data packs: atomic, once per request, delivered."""

    def __init__(self, uow: MoneyUnitOfWorkFactory, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def rewards(self) -> list[Reward]:
        """The rewards on offer (those this version can deliver), cheapest first."""
        async with self._uow.read() as uow:
            return [
                reward_of(row)
                for row in await uow.rewards.active()
                if row.kind in DELIVERABLE and (row.kind != "coupon" or row.value_fen)
            ]

    async def coupons(self, customer_id: int) -> list[RewardCoupon]:
        """The customer's coupons still to use (not taken by an order, not expired)."""
        async with self._uow.read() as uow:
            rows = await uow.reward_coupons.usable(customer_id, self._clock())
            return [reward_coupon_of(row) for row in rows]

    async def redeem(
        self,
        customer_id: int,
        reward_id: int,
        request_key: str,
        *,
        number: PhoneNumber | None = None,
        chat_id: int | None = None,
    ) -> Redemption:
        """Take one from stock and the points from the balance together, or neither; a
        coupon reward gives the customer their coupon in the same write, a data pack an order
        paid by the points to top up `number` (the recharge service carries it on).

        The same request (a double tap) redeems once.
        """
        key = f"redeem:{customer_id}:{request_key}"[:64]
        try:
            return await self._redeem(customer_id, reward_id, key, number, chat_id)
        except RecordConflict:
            pass  # a concurrent duplicate of this very request won the race
        except RedeemRefused:
            if not await self._redeemed(key):
                raise
        return await self._redemption(reward_id, key)

    async def _redeem(
        self,
        customer_id: int,
        reward_id: int,
        key: str,
        number: PhoneNumber | None,
        chat_id: int | None,
    ) -> Redemption:
        async with self._uow() as uow:
            if await uow.risk.frozen(customer_id):
                raise RedeemRefused("frozen")
            row = await uow.rewards.get(reward_id)
            if row is None or not row.active or row.kind not in DELIVERABLE:
                raise RedeemRefused("unknown")
            if row.kind == "coupon" and not row.value_fen:
                raise RedeemRefused("unknown")
            pack = None
            if row.kind == "data_pack":
                pack = await uow.products.by_code(row.product_code or "")
                if pack is None or not pack.active or pack.kind != ProductKind.DATA.value:
                    raise RedeemRefused("unknown")
            if await uow.points.has_entry(key):  # this request was redeemed already
                found = await _redemption_in(uow, reward_id, key)
                if found is None:
                    raise RedeemRefused("unknown")
                return found
            if pack is not None:
                if number is None:
                    raise RedeemRefused("number_needed")
                served = [c for c in pack.carriers.split(",") if c]
                if served and number.carrier.value not in served:
                    raise RedeemRefused("carrier")
            limit = UNLIMITED if row.per_customer is None else row.per_customer
            if not await uow.allowances.take(customer_id, reward_scope(reward_id), 1, limit):
                raise RedeemRefused("limit")
            if not await uow.rewards.take_stock(reward_id):
                raise RedeemRefused("out_of_stock")
            now = self._clock()
            if not await uow.points.post(
                customer_id, -row.cost_points, "redeem", key, now, note=row.code
            ):
                raise RedeemRefused("not_enough_points")
            order_id = None
            if pack is not None and number is not None:
                order = _reward_order(customer_id, chat_id, number, pack, now)
                order_id = (await uow.orders.add(order, "redeemed", UNLIMITED)).id
            uow.rewards.add_redemption(
                NewRedemption(
                    reward_id=reward_id,
                    customer_id=customer_id,
                    points=row.cost_points,
                    request_key=key,
                    at=now,
                    order_id=order_id,
                )
            )
            if row.kind == "coupon" and row.value_fen:
                uow.reward_coupons.add_coupon(
                    NewRewardCoupon(
                        customer_id=customer_id,
                        redemption_key=key,
                        reward_code=row.code,
                        name_zh=row.name_zh,
                        name_en=row.name_en,
                        value_fen=row.value_fen,
                        currency=CNY,
                        created_at=now,
                        expires_at=coupon_expiry(now, row.valid_days or DEFAULT_COUPON_DAYS),
                    )
                )
            await uow.commit()
        return await self._redemption(reward_id, key)

    async def _redeemed(self, key: str) -> bool:
        async with self._uow.read() as uow:
            return await uow.points.has_entry(key)

    async def _redemption(self, reward_id: int, key: str) -> Redemption:
        async with self._uow.read() as uow:
            found = await _redemption_in(uow, reward_id, key)
        if found is None:
            raise RedeemRefused("unknown")
        return found


async def _redemption_in(uow: MoneyUnitOfWork, reward_id: int, key: str) -> Redemption | None:
    row = await uow.rewards.get(reward_id)
    if row is None:
        return None
    coupon = await uow.reward_coupons.by_key(key)
    redemption = await uow.rewards.redemption(key)
    return Redemption(
        reward_of(row),
        reward_coupon_of(coupon) if coupon is not None else None,
        redemption.order_id if redemption is not None else None,
    )


def _reward_order(
    customer_id: int, chat_id: int | None, number: PhoneNumber, pack: ProductRecord, now: datetime
) -> NewOrder:
    """The order that tops up a redeemed data pack: paid by the points, nothing to charge."""
    return NewOrder(
        customer_id=customer_id,
        chat_id=chat_id,
        purpose=OrderPurpose.REWARD.value,
        status=OrderStatus.PAID.value,
        list_price_fen=0,
        amount_fen=0,
        currency=CNY,
        phone_digits=number.digits,
        carrier=number.carrier.value,
        product_id=pack.id,
        product_kind=pack.kind,
        product_name_zh=pack.name_zh,
        product_name_en=pack.name_en,
        payment_method=PaymentMethod.POINTS.value,
        created_at=now,
        expires_at=now,
    )


# The kinds of reward a redemption delivers.
DELIVERABLE = frozenset({"coupon", "data_pack"})
DEFAULT_COUPON_DAYS = 30


def coupon_expiry(now: datetime, valid_days: int) -> datetime:
    """A coupon redeemed today can be used until the end of the last of its days (Beijing)."""
    local = now.astimezone(CHINA)
    end = datetime(local.year, local.month, local.day, tzinfo=CHINA) + timedelta(days=valid_days)
    return end
