"""The money repositories of `domain/repositories/money.py` in memory, for the fake unit of work
(`tests/fakes/unit_of_work.py`): products, campaigns and their offers' slots, points with their
lapse, rewards and their coupons, once-only notices, numbers' counts and risk cases.

They keep the SQL repositories' semantics (`domain/persistence/`): every "at most N" is a
conditional write that says whether it applied (a slot within the quota, the budget and the
customer's uses; points never below zero; a reward's stock; a coupon taken by one order; a
decision taken once), and a second row of a unique key is a `RecordConflict` (a points entry
at once, as the Core insert; a redemption or a reward coupon when the unit of work commits,
as an added ORM row). Writers take turns in the fake unit of work, so a conditional write sees
every write committed before it, as on the databases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from domain.allowances import UNLIMITED, offer_scope
from domain.errors import RecordConflict
from domain.repositories import OrderRecord, PointsEarning, ProductRecord, SlotClaim
from domain.repositories.money import (
    GRANTED,
    HELD,
    RELEASED,
    LapseBatch,
    LapseWarning,
    LiveForCustomer,
    NewRedemption,
    NewRewardCoupon,
    NewRiskCase,
    OfferClaimView,
    Unspent,
)
from domain.risk import CaseStatus, RiskAction, RiskCase, RiskRule

if TYPE_CHECKING:
    from tests.fakes.unit_of_work import FakeUnitOfWork, Tables


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeCampaign:
    id: int
    code: str
    name_zh: str = ""
    name_en: str = ""
    terms_zh: str = ""
    terms_en: str = ""
    starts_at: datetime = datetime.min
    ends_at: datetime = datetime.max
    timezone: str = "Asia/Shanghai"
    status: str = "active"
    audience: str = "all"
    audience_tier: str | None = None
    audience_carrier: str | None = None
    priority: int = 0
    exclusive: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    loaded_at: datetime = datetime.min


@dataclass(frozen=True)
class FakeOffer:
    """An offer with its slots and budget."""

    id: int
    campaign_id: int
    code: str
    kind: str = "k"
    params: dict[str, object] = field(default_factory=dict)
    quota: int | None = None
    used: int = 0
    per_customer: int | None = None
    budget_fen: int | None = None
    spent_fen: int = 0


@dataclass(frozen=True)
class FakeOfferUse(FakeOffer):
    """A live offer read for one customer."""

    used_by_customer: int = 0


@dataclass(frozen=True)
class FakeClaim:
    id: int
    offer_id: int
    order_id: int
    customer_id: int
    cashback_fen: int
    status: str
    at: datetime
    red_packet_fen: int = 0
    bonus_points: int = 0
    discount_fen: int = 0


@dataclass(frozen=True)
class FakePointsBalance:
    """A points balance, with when the lapse sweep must look at it next (the earliest lapse
    date of what was earned, never later than the true one) and the date last warned of."""

    points: int = 0
    next_lapse_at: datetime | None = None
    lapse_warned_for: datetime | None = None


@dataclass(frozen=True)
class FakePointsEntry:
    id: int
    customer_id: int
    points: int
    kind: str
    order_id: int | None
    idempotency_key: str
    at: datetime
    expires_at: datetime | None
    note: str = ""


@dataclass(frozen=True)
class FakeReward:
    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    cost_points: int
    stock: int | None = None
    redeemed: int = 0
    per_customer: int | None = None
    active: bool = True
    value_fen: int | None = None
    valid_days: int | None = None
    product_code: str | None = None


@dataclass(frozen=True)
class FakeRedemption:
    id: int
    reward_id: int
    customer_id: int
    points: int
    request_key: str
    at: datetime
    order_id: int | None


@dataclass(frozen=True)
class FakeRewardCoupon:
    id: int
    customer_id: int
    redemption_key: str
    reward_code: str
    name_zh: str
    name_en: str
    value_fen: int
    currency: str
    created_at: datetime
    expires_at: datetime
    order_id: int | None = None
    used_at: datetime | None = None


@dataclass(frozen=True)
class FakeRiskCase:
    id: int
    case: NewRiskCase
    decided_by: int | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    first_approver: int | None = None
    first_approver_name: str | None = None

    def record(self) -> RiskCase:
        return RiskCase(
            id=self.id,
            customer_id=self.case.customer_id,
            order_id=self.case.order_id,
            rule=RiskRule(self.case.rule),
            action=RiskAction(self.case.action),
            evidence=self.case.evidence,
            status=CaseStatus(self.case.status),
            created_at=self.case.created_at,
            decided_by=self.decided_by,
            decided_by_name=self.decided_by_name,
            decided_at=self.decided_at,
            first_approver=self.first_approver,
            first_approver_name=self.first_approver_name,
        )


def catalogue() -> dict[int, ProductRecord]:
    """The catalogue's products, as the migrations seed it (credit, then data packs)."""
    products: list[ProductRecord] = []
    for order, yuan in enumerate((10, 20, 30, 50, 100, 200, 300, 500)):
        fen = yuan * 100
        products.append(
            ProductRecord(
                0,
                f"credit-{yuan}",
                "credit",
                f"{yuan}元话费",
                f"¥{yuan} call credit",
                fen,
                fen,
                "CNY",
                None,
                None,
                "",
                True,
                order,
            )
        )
    packs = (
        ("data-1g-7d", 1024, 7, 10),
        ("data-2g-30d", 2048, 30, 15),
        ("data-5g-30d", 5120, 30, 30),
        ("data-10g-30d", 10240, 30, 50),
        ("data-20g-30d", 20480, 30, 80),
    )
    for order, (code, mb, days, yuan) in enumerate(packs):
        gb, fen = mb // 1024, yuan * 100
        products.append(
            ProductRecord(
                0,
                code,
                "data",
                f"{gb}GB流量包（{days}天）",
                f"{gb} GB data ({days} days)",
                fen,
                fen,
                "CNY",
                mb,
                days,
                "",
                True,
                100 + order,
            )
        )
    return {n: replace(p, id=n) for n, p in enumerate(products, start=1)}


def utc(at: datetime) -> datetime:
    """As the databases keep a time: in UTC (a naive one is refused)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return at.astimezone(UTC)


def utc_or_none(at: datetime | None) -> datetime | None:
    return utc(at) if at is not None else None


class UniqueIn:
    """A unique key the database checks when an added row is flushed (on commit): at most one
    row of `table` has `value` in `name`."""

    def __init__(self, table: str, name: str, value: object) -> None:
        self.table, self.name, self.value = table, name, value

    def __call__(self, tables: Tables) -> None:
        rows: dict[int, object] = getattr(tables, self.table)
        if sum(1 for row in rows.values() if getattr(row, self.name) == self.value) > 1:
            raise RecordConflict(f"{self.table}: {self.name} = {self.value!r} exists")


class _Repository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _t(self) -> Tables:
        return self._uow.tables


# -- products and campaigns --------------------------------------------------------------------


class FakeProductRepository(_Repository):
    async def active(self, kind: str) -> list[ProductRecord]:
        found = [p for p in self._t.products.values() if p.kind == kind and p.active]
        return sorted(found, key=lambda p: (p.sort_order, p.id))

    async def get(self, product_id: int) -> ProductRecord | None:
        return self._t.products.get(product_id)

    async def by_code(self, code: str) -> ProductRecord | None:
        return next((p for p in self._t.products.values() if p.code == code), None)


class FakeCampaignReader(_Repository):
    async def by_code(self, code: str) -> FakeCampaign | None:
        return next((c for c in self._t.campaigns.values() if c.code == code), None)

    async def offers_by_code(self, codes: Iterable[str]) -> dict[str, FakeOffer]:
        wanted = set(codes)
        return {o.code: o for o in self._t.offers.values() if o.code in wanted}

    def _live(self, now: datetime) -> list[FakeCampaign]:
        live = [c for c in self._t.campaigns.values() if c.starts_at <= now < c.ends_at]
        return sorted(sorted(live, key=lambda c: c.code), key=lambda c: c.priority, reverse=True)

    async def live(self, now: datetime) -> list[tuple[FakeCampaign, list[FakeOffer]]]:
        return [(c, await self.offers_of(c.id)) for c in self._live(now)]

    async def live_for_customer(
        self, now: datetime, customer_id: int, since: datetime
    ) -> LiveForCustomer:
        completed = _completed_recharges(self._t, customer_id)
        total = sum(o.amount_fen for o in completed if _since(o.completed_at, since))
        uses: dict[int, int] = defaultdict(int)
        for claim in self._t.claims.values():
            if claim.customer_id == customer_id and claim.status in (HELD, GRANTED):
                uses[claim.offer_id] += 1
        live = [
            (
                campaign,
                [_with_use(o, uses[o.id]) for o in await self.offers_of(campaign.id)],
            )
            for campaign in self._live(now)
        ]
        return LiveForCustomer(live, total, len(completed))

    async def offers_of(self, campaign_id: int) -> list[FakeOffer]:
        return sorted(
            (o for o in self._t.offers.values() if o.campaign_id == campaign_id),
            key=lambda o: o.id,
        )

    async def offer(self, offer_id: int) -> FakeOffer | None:
        return self._t.offers.get(offer_id)

    async def all(self) -> list[FakeCampaign]:
        """Every campaign, whatever its window, by start."""
        return sorted(self._t.campaigns.values(), key=lambda c: (c.starts_at, c.id))

    async def exists(self, campaign_id: int) -> bool:
        return campaign_id in self._t.campaigns


def _with_use(offer: FakeOffer, used_by_customer: int) -> FakeOfferUse:
    values = {f.name: getattr(offer, f.name) for f in fields(FakeOffer)}
    return FakeOfferUse(**values, used_by_customer=used_by_customer)  # type: ignore[arg-type]


def _since(at: datetime | None, since: datetime) -> bool:
    return at is not None and at >= since


def _completed_recharges(tables: Tables, customer_id: int) -> list[OrderRecord]:
    return [
        o
        for o in tables.orders.values()
        if o.customer_id == customer_id and o.purpose == "recharge" and o.status == "completed"
    ]


# -- offers' slots -----------------------------------------------------------------------------


class FakeOfferClaimRepository(_Repository):
    async def claim(self, slot: SlotClaim, order_id: int, at: datetime) -> bool:
        allowances = self._uow.allowances
        scope = offer_scope(slot.offer_id)
        limit = UNLIMITED if slot.uses_per_customer is None else slot.uses_per_customer
        if not await allowances.take(slot.customer_id, scope, 1, limit):
            return False
        offer = self._t.offers.get(slot.offer_id)
        if (
            offer is None
            or (offer.quota is not None and offer.used >= offer.quota)
            or (
                offer.budget_fen is not None
                and offer.spent_fen + slot.cashback_fen > offer.budget_fen
            )
        ):
            await allowances.give_back(slot.customer_id, scope, 1)
            return False
        claims = self._t.claims.values()
        if any(c.offer_id == slot.offer_id and c.order_id == order_id for c in claims):
            raise RecordConflict(f"offer_claims: offer {slot.offer_id}, order {order_id} exists")
        self._t.offers[offer.id] = replace(
            offer, used=offer.used + 1, spent_fen=offer.spent_fen + slot.cashback_fen
        )
        claim_id = self._t.next_id("claims")
        self._t.claims[claim_id] = FakeClaim(
            claim_id,
            slot.offer_id,
            order_id,
            slot.customer_id,
            slot.cashback_fen,
            HELD,
            at,
            slot.red_packet_fen,
            slot.bonus_points,
            slot.discount_fen,
        )
        return True

    async def of_order(self, order_id: int) -> list[FakeClaim]:
        return sorted(
            (c for c in self._t.claims.values() if c.order_id == order_id), key=lambda c: c.id
        )

    async def settle(self, claim: OfferClaimView, to_status: str) -> bool:
        kept = self._t.claims.get(claim.id)
        if kept is None or kept.status != HELD:
            return False
        self._t.claims[claim.id] = replace(kept, status=to_status)
        if to_status == RELEASED:
            offer = self._t.offers.get(claim.offer_id)
            if offer is not None:
                self._t.offers[offer.id] = replace(
                    offer, used=offer.used - 1, spent_fen=offer.spent_fen - claim.cashback_fen
                )
            await self._uow.allowances.give_back(claim.customer_id, offer_scope(claim.offer_id), 1)
        return True

    async def grant_all(self, order_id: int) -> None:
        for claim in await self.of_order(order_id):
            if claim.status == HELD:
                self._t.claims[claim.id] = replace(claim, status=GRANTED)

    async def withdraw(self, order_id: int) -> None:
        for claim in await self.of_order(order_id):
            await self.settle(claim, RELEASED)
        for claim in await self.of_order(order_id):
            del self._t.claims[claim.id]


# -- points ------------------------------------------------------------------------------------


class FakePointsRepository(_Repository):
    async def open(self, customer_id: int) -> None:
        if customer_id in self._t.points_balances:
            raise RecordConflict(f"points_balances: {customer_id} exists")
        self._t.points_balances[customer_id] = FakePointsBalance()

    async def balance(self, customer_id: int) -> int:
        kept = self._t.points_balances.get(customer_id)
        return kept.points if kept is not None else 0

    async def ledger_sum(self, customer_id: int) -> int:
        return sum(
            e.points for e in self._t.points_entries.values() if e.customer_id == customer_id
        )

    async def has_entry(self, key: str) -> bool:
        return await self.entry(key) is not None

    async def entry(self, key: str) -> FakePointsEntry | None:
        found = (e for e in self._t.points_entries.values() if e.idempotency_key == key)
        return next(found, None)

    def _shift(self, customer_id: int, points: int, lapses_at: datetime | None) -> bool:
        """Move the balance unless it would go below zero (or there is none); earning points
        that lapse brings the next lapse forward to them."""
        kept = self._t.points_balances.get(customer_id)
        if kept is None or kept.points + points < 0:
            return False
        next_lapse = kept.next_lapse_at
        if lapses_at is not None and (next_lapse is None or next_lapse > lapses_at):
            next_lapse = utc(lapses_at)
        self._t.points_balances[customer_id] = replace(
            kept, points=kept.points + points, next_lapse_at=next_lapse
        )
        return True

    def _enter(
        self,
        customer_id: int,
        points: int,
        kind: str,
        key: str,
        at: datetime,
        order_id: int | None,
        expires_at: datetime | None,
        note: str = "",
    ) -> None:
        entry_id = self._t.next_id("points_entries")
        self._t.points_entries[entry_id] = FakePointsEntry(
            entry_id,
            customer_id,
            points,
            kind,
            order_id,
            key,
            utc(at),
            utc_or_none(expires_at),
            note[:128],
        )

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
        kept = self._t.points_balances.get(customer_id)
        if kept is None or kept.points + points < 0:
            return False
        if await self.has_entry(key):
            raise RecordConflict(f"points_entries: {key} exists")
        self._shift(customer_id, points, expires_at if points > 0 else None)
        self._enter(customer_id, points, kind, key, at, order_id, expires_at, note)
        return True

    async def earn_once(
        self, customer_id: int, earning: PointsEarning, at: datetime, order_id: int | None
    ) -> bool:
        """Earn with the entry keyed `earning.key` unless it exists (False: a replay); a
        customer with no points balance cannot earn (ValueError)."""
        if await self.has_entry(earning.key):
            return False
        if customer_id not in self._t.points_balances:
            raise ValueError(f"customer {customer_id} has no points balance to earn into")
        self._enter(
            customer_id, earning.points, "earn", earning.key, at, order_id, earning.expires_at
        )
        self._shift(customer_id, earning.points, earning.expires_at)
        return True

    async def entries(self, customer_id: int, limit: int) -> list[FakePointsEntry]:
        theirs = [e for e in self._t.points_entries.values() if e.customer_id == customer_id]
        return sorted(theirs, key=lambda e: e.id, reverse=True)[:limit]

    async def all_entries(self, customer_id: int) -> list[FakePointsEntry]:
        theirs = [e for e in self._t.points_entries.values() if e.customer_id == customer_id]
        return sorted(theirs, key=lambda e: (e.at, e.id))

    def _due(self, before: datetime, limit: int, after: datetime | None = None) -> list[int]:
        due = []
        for customer_id, kept in self._t.points_balances.items():
            when = kept.next_lapse_at
            if when is None or when > before:
                continue
            if after is not None and (when <= after or kept.lapse_warned_for == when):
                continue
            due.append((when, customer_id))
        return [customer_id for _, customer_id in sorted(due)[:limit]]

    def _unspent(self, customers: Sequence[int]) -> list[Unspent]:
        """What is left of each earned entry with a lapse date, spent from the oldest first."""
        unspent = []
        for customer_id in customers:
            theirs = [e for e in self._t.points_entries.values() if e.customer_id == customer_id]
            spent = -sum(e.points for e in theirs if e.points < 0)
            through = 0
            for e in sorted((e for e in theirs if e.points > 0), key=lambda e: (e.at, e.id)):
                through += e.points
                left = max(0, min(e.points, through - spent))
                if e.expires_at is not None and left > 0:
                    unspent.append(Unspent(e.id, customer_id, left, e.expires_at))
        return unspent

    def _move_next_lapse(self, customer_id: int, **values: datetime | None) -> None:
        kept = self._t.points_balances[customer_id]
        self._t.points_balances[customer_id] = replace(kept, **values)  # type: ignore[arg-type]

    async def lapse_due(self, now: datetime, limit: int) -> LapseBatch:
        customers = self._due(now, limit)
        if not customers:
            return LapseBatch(0, 0)
        lapsed = {
            e.idempotency_key
            for e in self._t.points_entries.values()
            if e.customer_id in customers and e.kind == "expire"
        }
        following: dict[int, datetime] = {}
        totals: dict[int, int] = defaultdict(int)
        for item in self._unspent(customers):
            if item.lapses_at <= now:
                key = f"expire:{item.entry_id}"
                if key not in lapsed:
                    self._enter(item.customer_id, -item.points, "expire", key, now, None, None)
                    totals[item.customer_id] += item.points
            elif item.customer_id not in following or item.lapses_at < following[item.customer_id]:
                following[item.customer_id] = item.lapses_at
        for customer_id, points in totals.items():
            self._shift(customer_id, -points, None)
        for customer_id in customers:
            self._move_next_lapse(customer_id, next_lapse_at=following.get(customer_id))
        return LapseBatch(len(customers), sum(totals.values()))

    async def lapse_warnings_due(
        self, now: datetime, before: datetime, limit: int
    ) -> tuple[int, list[LapseWarning]]:
        customers = self._due(before, limit, now)
        if not customers:
            return 0, []
        following: dict[int, datetime] = {}
        points: dict[int, int] = defaultdict(int)
        for item in self._unspent(customers):
            if item.lapses_at <= now:
                continue
            if item.customer_id not in following or item.lapses_at < following[item.customer_id]:
                following[item.customer_id] = item.lapses_at
            if item.lapses_at <= before:
                points[item.customer_id] += item.points
        for customer_id in customers:
            next_at = following.get(customer_id)
            self._move_next_lapse(
                customer_id,
                next_lapse_at=next_at,
                lapse_warned_for=next_at if customer_id in points else None,
            )
        return len(customers), [
            LapseWarning(customer_id, total, following[customer_id])
            for customer_id, total in points.items()
        ]

    async def lapse_warning_undelivered(self, customer_id: int) -> None:
        if customer_id in self._t.points_balances:
            self._move_next_lapse(customer_id, lapse_warned_for=None)

    async def recharge_total_since(self, customer_id: int, since: datetime) -> int:
        return sum(
            o.amount_fen
            for o in self._t.orders.values()
            if o.customer_id == customer_id
            and o.purpose == "recharge"
            and o.status == "completed"
            and _since(o.completed_at, since)
        )


# -- rewards and their coupons -----------------------------------------------------------------


class FakeRewardRepository(_Repository):
    async def active(self) -> list[FakeReward]:
        found = [r for r in self._t.rewards.values() if r.active]
        return sorted(found, key=lambda r: r.cost_points)

    async def get(self, reward_id: int) -> FakeReward | None:
        return self._t.rewards.get(reward_id)

    def add_redemption(self, redemption: NewRedemption) -> None:
        redemption_id = self._t.next_id("redemptions")
        self._t.redemptions[redemption_id] = FakeRedemption(
            redemption_id,
            redemption.reward_id,
            redemption.customer_id,
            redemption.points,
            redemption.request_key,
            utc(redemption.at),
            redemption.order_id,
        )
        self._uow.check_later(UniqueIn("redemptions", "request_key", redemption.request_key))

    async def redemption(self, request_key: str) -> FakeRedemption | None:
        found = (r for r in self._t.redemptions.values() if r.request_key == request_key)
        return next(found, None)

    async def redemption_of_order(self, order_id: int) -> FakeRedemption | None:
        found = (r for r in self._t.redemptions.values() if r.order_id == order_id)
        return next(found, None)

    async def give_back_stock(self, reward_id: int) -> None:
        reward = self._t.rewards.get(reward_id)
        if reward is not None and reward.redeemed > 0:
            self._t.rewards[reward_id] = replace(reward, redeemed=reward.redeemed - 1)

    async def take_stock(self, reward_id: int) -> bool:
        reward = self._t.rewards.get(reward_id)
        if reward is None or (reward.stock is not None and reward.redeemed >= reward.stock):
            return False
        self._t.rewards[reward_id] = replace(reward, redeemed=reward.redeemed + 1)
        return True


class FakeRewardCouponRepository(_Repository):
    def add_coupon(self, coupon: NewRewardCoupon) -> None:
        coupon_id = self._t.next_id("reward_coupons")
        self._t.reward_coupons[coupon_id] = FakeRewardCoupon(
            coupon_id,
            **{f.name: getattr(coupon, f.name) for f in fields(NewRewardCoupon)}
            | {"created_at": utc(coupon.created_at), "expires_at": utc(coupon.expires_at)},
        )
        self._uow.check_later(UniqueIn("reward_coupons", "redemption_key", coupon.redemption_key))

    async def get(self, coupon_id: int) -> FakeRewardCoupon | None:
        return self._t.reward_coupons.get(coupon_id)

    async def by_key(self, redemption_key: str) -> FakeRewardCoupon | None:
        found = (c for c in self._t.reward_coupons.values() if c.redemption_key == redemption_key)
        return next(found, None)

    async def usable(self, customer_id: int, now: datetime) -> list[FakeRewardCoupon]:
        found = [
            c
            for c in self._t.reward_coupons.values()
            if c.customer_id == customer_id and c.order_id is None and c.expires_at > now
        ]
        return sorted(found, key=lambda c: (c.expires_at, c.id))

    async def take(self, coupon_id: int, customer_id: int, order_id: int, now: datetime) -> bool:
        coupon = self._t.reward_coupons.get(coupon_id)
        if (
            coupon is None
            or coupon.customer_id != customer_id
            or coupon.expires_at <= now
            or coupon.order_id not in (None, order_id)
        ):
            return False
        self._t.reward_coupons[coupon_id] = replace(coupon, order_id=order_id, used_at=utc(now))
        return True

    async def give_back(self, order_id: int) -> None:
        for coupon in list(self._t.reward_coupons.values()):
            if coupon.order_id == order_id:
                self._t.reward_coupons[coupon.id] = replace(coupon, order_id=None, used_at=None)


# -- notices, numbers' counts, risk cases ------------------------------------------------------


class FakeNoticeRepository(_Repository):
    async def claim(self, key: str, customer_id: int, at: datetime) -> bool:
        if key in self._t.notices:
            return False
        self._t.notices[key] = (customer_id, utc(at))
        return True

    async def forget(self, key: str) -> None:
        self._t.notices.pop(key, None)


class FakeNumberAllowanceRepository(_Repository):
    async def take(self, key: str, scope: str, amount: int, limit: int) -> bool:
        used = self._t.number_allowances.get((key, scope), 0)
        if used + amount > limit:
            self._t.number_allowances.setdefault((key, scope), used)
            return False
        self._t.number_allowances[(key, scope)] = used + amount
        return True


class FakeRiskRepository(_Repository):
    async def open_case(self, case: NewRiskCase) -> int:
        case_id = self._t.next_id("risk_cases")
        self._t.risk_cases[case_id] = FakeRiskCase(
            case_id, replace(case, created_at=utc(case.created_at))
        )
        return case_id

    async def frozen(self, customer_id: int) -> bool:
        return any(
            kept.case.customer_id == customer_id and kept.record().freezes
            for kept in self._t.risk_cases.values()
        )

    async def get(self, case_id: int) -> RiskCase | None:
        kept = self._t.risk_cases.get(case_id)
        return kept.record() if kept is not None else None

    def _change(self, case_id: int, condition: bool, **values: object) -> bool:
        if not condition:
            return False
        kept = self._t.risk_cases[case_id]
        case_values = {k: values.pop(k) for k in list(values) if k in _CASE_FIELDS}
        self._t.risk_cases[case_id] = replace(
            kept,
            case=replace(kept.case, **case_values),  # type: ignore[arg-type]
            **values,  # type: ignore[arg-type]
        )
        return True

    async def decide(
        self,
        case_id: int,
        from_statuses: Iterable[str],
        to_status: str,
        by: int,
        by_name: str,
        at: datetime,
    ) -> bool:
        kept = self._t.risk_cases.get(case_id)
        return kept is not None and self._change(
            case_id,
            kept.case.status in set(from_statuses),
            status=to_status,
            decided_by=by,
            decided_by_name=by_name[:128],
            decided_at=utc(at),
            customer_told=False,
        )

    async def approve_first(self, case_id: int, by: int, by_name: str) -> bool:
        kept = self._t.risk_cases.get(case_id)
        return kept is not None and self._change(
            case_id,
            kept.case.status == CaseStatus.OPEN.value and kept.first_approver is None,
            first_approver=by,
            first_approver_name=by_name[:128],
        )

    def _cases(self, keep: Mapping[str, object] | None, limit: int) -> list[RiskCase]:
        found = [
            kept.record()
            for _, kept in sorted(self._t.risk_cases.items())
            if keep is None or all(getattr(kept.case, k) == v for k, v in keep.items())
        ]
        return found[:limit]

    async def pending(self, limit: int) -> list[RiskCase]:
        waiting = (CaseStatus.OPEN.value, CaseStatus.KEPT_FROZEN.value)
        found = [
            kept.record()
            for _, kept in sorted(self._t.risk_cases.items())
            if kept.case.status in waiting
        ]
        return found[:limit]

    async def unsent_alerts(self, limit: int) -> list[RiskCase]:
        return self._cases({"alert_sent": False}, limit)

    async def untold_decisions(self, limit: int) -> list[RiskCase]:
        return self._cases({"customer_told": False}, limit)

    async def mark(self, case_id: int, flag: str, value: bool) -> bool:
        if flag not in ("alert_sent", "customer_told"):
            raise AttributeError(f"risk cases have no flag {flag}")
        kept = self._t.risk_cases.get(case_id)
        return kept is not None and self._change(
            case_id, getattr(kept.case, flag) is not value, **{flag: value}
        )


_CASE_FIELDS = frozenset(f.name for f in fields(NewRiskCase))
