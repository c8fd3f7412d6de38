"""The campaign file staff write (TOML), validated whole before anything is loaded.

    [[campaigns]]
    code = "double-11"
    name_zh = "双11充值节"          # and name_en, terms_zh, terms_en
    starts_at = 2026-11-01T00:00:00+08:00
    ends_at = 2026-11-12T00:00:00+08:00
    audience = "everyone"           # new_customers, existing_customers, tier_at_least, carrier
    priority = 10
    exclusive = false
    holdout_percent = 10            # optional control group (0-50 %): never offered this campaign
    countdown_minutes = [1440, 120, 15]
    slots_left_reminders = [10]     # "only 10 slots left" for each offer with a quota

    [[campaigns.offers]]
    code = "first-100-double"
    kind = "points_multiplier"      # and the other kinds of `OfferKind`
    multiplier = 2
    quota = 100

    [campaigns.referral]            # optional: invite-a-friend rewards
    min_recharge_yuan = 30          # the friend's first recharge of at least this qualifies
    inviter = { kind = "points", points = 200 }     # red_packet (yuan = 5), coupon (coupon_code)
    friend = { kind = "red_packet", yuan = 5 }
    claim_days = 7      # also cap_per_inviter, cap_period_days, burst_count, burst_minutes
    # A coupon reward's code must be the coupon_code of one of the campaign's coupon offers.
    # Claiming it shows the code; a refund cannot take a shown code back, so the clawback
    # records it as a shortfall for staff (like points or money already spent).

    [campaigns.risk]                # optional: the risk limits for orders on this campaign's offers
    orders_per_hour = 3             # in place of the settings' RISK_ORDERS_PER_HOUR; also
    amount_per_hour_yuan = 500      # orders_per_day, numbers_per_day, accounts_per_number,
    new_account_large_yuan = 200    # new_account_minutes (each at least 1: never off)

    [[rewards]]
    code = "coupon-5"
    kind = "coupon"                 # or data_pack (with product = "<a data pack's code>")
    name_zh = "5元抵用券"
    name_en = "¥5 coupon"
    cost_points = 500
    stock = 1000
    value_yuan = 5                  # a coupon: what it takes off one recharge
    valid_days = 30                 # ... usable for this many days (Beijing), then it lapses

Amounts are in yuan with at most two decimals (`every_yuan = 100`, `returns_yuan = 10`).
A bad file is refused with the line of the first problem; nothing of it is loaded.

What a file may hold: UTF-8 text of at most 1 MiB; at most 100 campaigns, 20 offers a campaign,
500 offers and 200 rewards; names of at most 128 characters and terms of at most 2,000, without
control characters; counts (quota, per_customer, stock, slots_left_reminders) up to
1,000,000,000; points up to 10,000,000; an order's amounts (min_amount_yuan, every_yuan,
returns_yuan, cap_yuan, bonus_yuan, discount_yuan, steps) up to ¥100,000 and a budget up to
¥10,000,000; priority between -1,000,000 and 1,000,000; at most 10 countdown reminders, each
1 to 43,200 minutes (30 days) before the end, and at most 10 slots-left reminders; dates
between 2000 and 2100; risk limits (`[campaigns.risk]`) of at least 1, counts up to
1,000,000,000, an hour's amount up to ¥10,000,000, a large first-hour amount up to ¥100,000
and the new account's window up to 43,200 minutes.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from domain.campaigns import Audience, Campaign, CampaignStatus, Offer, OfferKind
from domain.catalogue import ProductKind
from domain.holdout import MAX_HOLDOUT_PERCENT
from domain.money import Money
from domain.phone import Carrier
from domain.referrals import ReferralRules, RewardKind
from domain.referrals import RewardSpec as ReferralReward
from domain.risk import CampaignRiskLimits
from domain.tiers import Tier

CODE = r"^[a-z0-9][a-z0-9_-]{0,47}$"

# What one file may hold.
MAX_FILE_BYTES = 1024 * 1024
MAX_CAMPAIGNS = 100
MAX_OFFERS_PER_CAMPAIGN = 20
MAX_OFFERS = 500
MAX_REWARDS = 200
MAX_COUPON_DAYS = 366
MAX_REMINDERS = 10
MAX_COUNTDOWN_MINUTES = 30 * 24 * 60
# Counts (slots, uses, stock), points, an order's amounts and a campaign budget.
MAX_COUNT = 1_000_000_000
MAX_POINTS = 10_000_000
MAX_ORDER_YUAN = Decimal(100_000)
MAX_BUDGET_YUAN = Decimal(10_000_000)
MAX_PRIORITY = 1_000_000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _yuan(value: Decimal) -> Decimal:
    if value < 0 or (value * 100) % 1 != 0:
        raise ValueError("an amount in yuan is not negative and has at most two decimals")
    if value > MAX_ORDER_YUAN:
        raise ValueError(f"an amount is at most {MAX_ORDER_YUAN:,} yuan")
    return value


def _budget(value: Decimal) -> Decimal:
    if value < 0 or (value * 100) % 1 != 0:
        raise ValueError("an amount in yuan is not negative and has at most two decimals")
    if value > MAX_BUDGET_YUAN:
        raise ValueError(f"a budget is at most {MAX_BUDGET_YUAN:,} yuan")
    return value


def _plain_text(value: str) -> str:
    """Names and terms: printable text, line breaks allowed, no other control characters."""
    if any((ord(ch) < 32 and ch not in "\r\n\t") or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise ValueError("text may not contain control characters")
    return value


def _moment(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("a date is between 2000 and 2100")
    return value


def _distinct(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError("each value may be given once")
    return values


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {value!r}") from error
    return value


Yuan = Annotated[Decimal, AfterValidator(_yuan)]
Budget = Annotated[Decimal, AfterValidator(_budget)]
Moment = Annotated[AwareDatetime, AfterValidator(_moment)]
Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_plain_text)]
Terms = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_plain_text)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]


def fen(value: Decimal | None) -> Money | None:
    return None if value is None else Money(int(value * 100))


class OfferSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE)
    kind: OfferKind
    quota: Count | None = None
    per_customer: Count | None = None
    product_kinds: list[ProductKind] = Field(default=[], max_length=len(ProductKind))
    min_amount_yuan: Yuan = Decimal(0)
    multiplier: Decimal = Field(default=Decimal(1), ge=1, le=100)
    every_yuan: Yuan | None = None
    returns_yuan: Yuan | None = None
    percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    cap_yuan: Yuan | None = None
    budget_yuan: Budget | None = None
    bonus_yuan: Yuan = Decimal(0)
    bonus_points: int = Field(default=0, ge=0, le=MAX_POINTS)
    steps: list[tuple[Yuan, Yuan]] = Field(default=[], max_length=20)
    bundle_product: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    discount_yuan: Yuan = Decimal(0)
    coupon_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{4,32}$")
    expires_at: Moment | None = None

    @model_validator(mode="after")
    def _kind_needs(self) -> OfferSpec:
        needs: dict[OfferKind, tuple[str, ...]] = {
            OfferKind.POINTS_MULTIPLIER: ("multiplier",),
            OfferKind.RED_PACKET: ("every_yuan", "returns_yuan"),
            OfferKind.CASHBACK: ("percent",),
            OfferKind.DENOMINATION_BONUS: ("steps",),
            OfferKind.BUNDLE: ("bundle_product", "discount_yuan"),
            OfferKind.COUPON: ("coupon_code", "discount_yuan"),
        }
        missing = [name for name in needs.get(self.kind, ()) if not getattr(self, name)]
        if self.kind is OfferKind.POINTS_MULTIPLIER and self.multiplier <= 1:
            missing.append("multiplier (above 1)")
        if self.kind is OfferKind.FIRST_RECHARGE and not (self.bonus_yuan or self.bonus_points):
            missing.append("bonus_yuan or bonus_points")
        if missing:
            raise ValueError(f"a {self.kind.value} offer needs {', '.join(missing)}")
        if self.every_yuan is not None and self.every_yuan == 0:
            raise ValueError("every_yuan must be above zero")
        return self

    def to_offer(self) -> Offer:
        return Offer(
            code=self.code,
            kind=self.kind,
            quota=self.quota,
            per_customer=self.per_customer,
            product_kinds=frozenset(self.product_kinds),
            min_amount=fen(self.min_amount_yuan) or Money(0),
            multiplier_percent=int(self.multiplier * 100),
            every=fen(self.every_yuan) or Money(0),
            returns=fen(self.returns_yuan) or Money(0),
            basis_points=int(self.percent * 100),
            cap=fen(self.cap_yuan),
            budget=fen(self.budget_yuan),
            bonus=fen(self.bonus_yuan) or Money(0),
            bonus_points=self.bonus_points,
            steps=tuple((Money(int(a * 100)), Money(int(b * 100))) for a, b in self.steps),
            bundle_product=self.bundle_product,
            discount=fen(self.discount_yuan) or Money(0),
            coupon_code=self.coupon_code.upper() if self.coupon_code else None,
            expires_at=self.expires_at,
        )


# -- referral rewards (`[campaigns.referral]`) -------------------------------------------------
class ReferralRewardSpec(BaseModel):
    """One side's reward: `{ kind = "points", points = 200 }`, `{ kind = "red_packet",
    yuan = 5 }` or `{ kind = "coupon", coupon_code = "WALLET5" }`."""

    model_config = ConfigDict(extra="forbid")

    kind: RewardKind
    points: int = Field(default=0, ge=0, le=100_000)
    yuan: Yuan = Field(default=Decimal(0), le=1000)
    coupon_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{4,32}$")

    @model_validator(mode="after")
    def _kind_needs(self) -> ReferralRewardSpec:
        given = {
            "points": bool(self.points),
            "yuan": bool(self.yuan),
            "coupon_code": bool(self.coupon_code),
        }
        needed = {
            RewardKind.POINTS: "points",
            RewardKind.RED_PACKET: "yuan",
            RewardKind.COUPON: "coupon_code",
        }[self.kind]
        if not given[needed] or any(v for k, v in given.items() if k != needed):
            raise ValueError(f"a {self.kind.value} reward needs {needed} and nothing else")
        return self

    def to_reward(self) -> ReferralReward:
        code = self.coupon_code.upper() if self.coupon_code else None
        return ReferralReward(self.kind, self.points, fen(self.yuan) or Money(0), code)


class ReferralSpec(BaseModel):
    """`[campaigns.referral]`: what a friend's first qualifying recharge earns both sides."""

    model_config = ConfigDict(extra="forbid")

    min_recharge_yuan: Yuan = Field(gt=0)
    inviter: ReferralRewardSpec
    friend: ReferralRewardSpec
    claim_days: int = Field(default=7, ge=1, le=90)
    cap_per_inviter: int = Field(default=20, ge=1, le=MAX_COUNT)
    cap_period_days: int = Field(default=30, ge=1, le=366)
    burst_count: int = Field(default=5, ge=2, le=MAX_COUNT)
    burst_minutes: int = Field(default=60, ge=1, le=10_080)

    def to_rules(self) -> ReferralRules:
        return ReferralRules(
            minimum=fen(self.min_recharge_yuan) or Money(0),
            inviter=self.inviter.to_reward(),
            friend=self.friend.to_reward(),
            claim_window=timedelta(days=self.claim_days),
            cap_per_inviter=self.cap_per_inviter,
            cap_period_days=self.cap_period_days,
            burst_count=self.burst_count,
            burst_window=timedelta(minutes=self.burst_minutes),
        )


class RiskSpec(BaseModel):
    """`[campaigns.risk]`: the risk limits for orders on the campaign's offers, in place of the
    settings' (`domain/risk.py`). A limit given is at least 1: a campaign cannot turn a rule off."""

    model_config = ConfigDict(extra="forbid")

    orders_per_hour: Count | None = None
    orders_per_day: Count | None = None
    amount_per_hour_yuan: Budget | None = Field(default=None, gt=0)
    numbers_per_day: Count | None = None
    accounts_per_number: Count | None = None
    new_account_large_yuan: Yuan | None = Field(default=None, gt=0)
    new_account_minutes: int | None = Field(default=None, ge=1, le=MAX_COUNTDOWN_MINUTES)

    def to_limits(self) -> CampaignRiskLimits:
        amount, large = fen(self.amount_per_hour_yuan), fen(self.new_account_large_yuan)
        return CampaignRiskLimits(
            orders_per_hour=self.orders_per_hour,
            orders_per_day=self.orders_per_day,
            amount_per_hour_fen=amount.fen if amount is not None else None,
            numbers_per_day=self.numbers_per_day,
            accounts_per_number=self.accounts_per_number,
            new_account_large_fen=large.fen if large is not None else None,
            new_account_minutes=self.new_account_minutes,
        )


class CampaignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE)
    name_zh: Name
    name_en: Name
    terms_zh: Terms
    terms_en: Terms
    starts_at: Moment
    ends_at: Moment
    timezone: Annotated[str, Field(max_length=48), AfterValidator(_timezone)] = "Asia/Shanghai"
    status: CampaignStatus = CampaignStatus.ACTIVE
    audience: Audience = Audience.EVERYONE
    audience_tier: Tier | None = None
    audience_carrier: Carrier | None = None
    priority: int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)
    exclusive: bool = False
    # A control group of this share of customers never sees the campaign's offers or reminders
    # (domain/holdout.py); the dashboard measures the uplift against it.
    holdout_percent: int = Field(default=0, ge=0, le=MAX_HOLDOUT_PERCENT)
    countdown_minutes: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_COUNTDOWN_MINUTES)]],
        Field(max_length=MAX_REMINDERS),
        AfterValidator(_distinct),
    ] = Field(default=[1440, 120, 15])
    # Countdown reminders go out that many minutes before the end (above); a slots-left
    # reminder when an offer's remaining quota reaches one of these.
    slots_left_reminders: Annotated[
        list[Count], Field(max_length=MAX_REMINDERS), AfterValidator(_distinct)
    ] = []
    offers: list[OfferSpec] = Field(min_length=1, max_length=MAX_OFFERS_PER_CAMPAIGN)
    referral: ReferralSpec | None = None
    risk: RiskSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.audience is Audience.TIER_AT_LEAST and self.audience_tier is None:
            raise ValueError("audience tier_at_least needs audience_tier")
        if self.audience is Audience.CARRIER and self.audience_carrier is None:
            raise ValueError("audience carrier needs audience_carrier")
        codes = [o.code for o in self.offers]
        if len(set(codes)) != len(codes):
            raise ValueError("offer codes must be unique")
        self._referral_coupons_offered()
        return self

    def _referral_coupons_offered(self) -> None:
        """A coupon reward hands out the code of one of this campaign's coupon offers."""
        if self.referral is None:
            return
        offered = {
            o.coupon_code.upper()
            for o in self.offers
            if o.kind is OfferKind.COUPON and o.coupon_code
        }
        for side in ("inviter", "friend"):
            reward: ReferralRewardSpec = getattr(self.referral, side)
            code = (reward.coupon_code or "").upper()
            if reward.kind is RewardKind.COUPON and code not in offered:
                raise Misplaced(
                    f"referral.{side}: coupon {code} is not the coupon_code of a coupon offer "
                    f"of campaign {self.code} (offered: {', '.join(sorted(offered)) or 'none'})",
                    ("referral", side),
                )

    def to_campaign(self) -> Campaign:
        return Campaign(
            code=self.code,
            name_zh=self.name_zh,
            name_en=self.name_en,
            terms_zh=self.terms_zh,
            terms_en=self.terms_en,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            timezone=self.timezone,
            status=self.status,
            audience=self.audience,
            audience_tier=self.audience_tier,
            audience_carrier=self.audience_carrier,
            priority=self.priority,
            exclusive=self.exclusive,
            offers=tuple(o.to_offer() for o in self.offers),
            holdout_percent=self.holdout_percent,
        )


class RewardSpec(BaseModel):
    """A reward to redeem points for: a coupon (`value_yuan` off one recharge, usable for
    `valid_days`) or a data pack (`product`, a data pack of the catalogue, topped up to a
    number the customer picks). There are no physical goods: nothing could deliver them."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE)
    kind: str = Field(pattern=r"^(coupon|data_pack)$")
    name_zh: Name
    name_en: Name
    cost_points: int = Field(ge=1, le=MAX_POINTS)
    stock: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    per_customer: Count | None = None
    value_yuan: Yuan | None = None
    valid_days: int | None = Field(default=None, ge=1, le=MAX_COUPON_DAYS)
    product: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")

    @model_validator(mode="after")
    def _kind_needs(self) -> RewardSpec:
        if self.kind == "coupon":
            if self.value_yuan is None or self.value_yuan <= 0 or self.valid_days is None:
                raise ValueError("a coupon reward needs value_yuan (above 0) and valid_days")
            if self.product is not None:
                raise ValueError("a coupon reward has no product")
        elif self.product is None or self.value_yuan is not None or self.valid_days is not None:
            raise ValueError("a data_pack reward needs product and no value_yuan or valid_days")
        return self


class CampaignFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaigns: list[CampaignSpec] = []
    rewards: list[RewardSpec] = []

    @model_validator(mode="after")
    def _unique(self) -> CampaignFile:
        codes = [c.code for c in self.campaigns]
        offers = [o.code for c in self.campaigns for o in c.offers]
        for kind, found in (("campaign", codes), ("offer", offers)):
            if len(set(found)) != len(found):
                raise ValueError(f"{kind} codes must be unique in the file")
        return self


class Misplaced(ValueError):
    """A problem a whole-model check found in one of the model's fields: `where` is that
    field's path inside the model, so the error names its line rather than the model's."""

    def __init__(self, message: str, where: tuple[str, ...]) -> None:
        super().__init__(message)
        self.where = where


class CampaignFileError(ValueError):
    """A bad campaign file: `line` is where the first problem is (1-based), when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


def read_campaign_file(data: bytes) -> CampaignFile:
    """A campaign file as read from disk: UTF-8 text (a byte-order mark is fine) within the size
    limit, then parsed and validated whole."""
    _check_size(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        raise CampaignFileError(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at column "
            f"{error.start - start + 1}); save the file as UTF-8",
            data.count(b"\n", 0, error.start) + 1,
        ) from None
    return parse_campaign_file(text)


def _check_size(data: bytes) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise CampaignFileError(
            f"a campaign file holds at most {MAX_FILE_BYTES:,} bytes (1 MiB) and this one is "
            "longer: split it",
            data.count(b"\n", 0, MAX_FILE_BYTES) + 1,
        )


def _check_counts(text: str, data: dict[str, Any]) -> None:
    """At most so many campaigns, offers and rewards in one file, naming the first one over."""
    campaigns = data.get("campaigns")
    if isinstance(campaigns, list):
        if len(campaigns) > MAX_CAMPAIGNS:
            raise CampaignFileError(
                f"campaigns: at most {MAX_CAMPAIGNS} campaigns in a file; split it",
                line_of(text, ("campaigns", MAX_CAMPAIGNS)),
            )
        total = 0
        for number, campaign in enumerate(campaigns):
            offers = campaign.get("offers") if isinstance(campaign, dict) else None
            if not isinstance(offers, list):
                continue
            if len(offers) > MAX_OFFERS_PER_CAMPAIGN:
                raise CampaignFileError(
                    f"campaigns.{number}.offers: at most {MAX_OFFERS_PER_CAMPAIGN} offers in a "
                    "campaign",
                    line_of(text, ("campaigns", number, "offers", MAX_OFFERS_PER_CAMPAIGN)),
                )
            total += len(offers)
            if total > MAX_OFFERS:
                over = len(offers) - (total - MAX_OFFERS)
                raise CampaignFileError(
                    f"campaigns.{number}.offers: at most {MAX_OFFERS} offers in a file; split it",
                    line_of(text, ("campaigns", number, "offers", over)),
                )
    rewards = data.get("rewards")
    if isinstance(rewards, list) and len(rewards) > MAX_REWARDS:
        raise CampaignFileError(
            f"rewards: at most {MAX_REWARDS} rewards in a file; split it",
            line_of(text, ("rewards", MAX_REWARDS)),
        )


def parse_campaign_file(text: str) -> CampaignFile:
    _check_size(text.encode())
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        raise CampaignFileError(str(error), int(found.group(1)) if found else None) from error
    _check_counts(text, data)
    try:
        return CampaignFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        found = first.get("ctx", {}).get("error")
        if isinstance(found, Misplaced):
            loc += found.where
        where = ".".join(str(part) for part in first["loc"])
        message = f"{where}: {first['msg']}" if where else first["msg"]
        raise CampaignFileError(message, line_of(text, loc)) from error


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line of a validation error's location, e.g. ("campaigns", 0, "offers", 1, "kind").

    Follows the array-of-tables headers ([[campaigns]], then [[campaigns.offers]]) to the
    element, then the key inside it; the element's header line when the key is not written.
    """
    lines = text.split("\n")  # TOML counts lines by line feeds only
    compact = [line.strip().replace(" ", "") for line in lines]
    start, end = 0, len(lines)
    path: list[str] = []
    parts = list(loc)
    position = 0
    while position < len(parts):
        name = str(parts[position])
        nth = parts[position + 1] if position + 1 < len(parts) else None
        header = "[[" + ".".join([*path, name]) + "]]"
        hits = [n for n in range(start, end) if compact[n] == header]
        if isinstance(nth, int) and hits:
            path.append(name)
            if nth >= len(hits):
                return None
            start = hits[nth]
            end = next((n for n in range(start + 1, end) if compact[n] == header), end)
            position += 2
            continue
        own_end = next((n for n in range(start + 1, end) if compact[n].startswith("[")), end)
        key = re.compile(rf"^{re.escape(name)}=")
        for number in range(start, own_end):
            if key.match(compact[number]):
                return number + 1
        # A sub-table of the element ([campaigns.referral]): go into it.
        header = "[" + ".".join([*path, name]) + "]"
        sub = next((n for n in range(start, end) if compact[n] == header), None)
        if sub is None:
            break
        path.append(name)
        start = sub
        position += 1
        continue
    return start + 1 if path else None
