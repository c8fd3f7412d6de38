"""Repositories of campaigns, offers and their claims, points, rewards. They never commit."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, delete, func, insert, or_, select, update

from domain.allowances import UNLIMITED, offer_scope
from domain.persistence import offer_slots
from domain.persistence.allowance_repository import AllowanceRepository
from domain.persistence.core import Connected, OnConflict, Record, Repository, StatementsByKeys
from domain.persistence.ledgers import (
    HELD,
    POINTS_EARN_SHIFT,
    POINTS_ENTRY,
    POINTS_SHIFT,
)
from domain.persistence.offer_slots import OFFER_COLUMNS
from domain.persistence.points_lapse import lapse_batch, unwarn, warnings_batch
from domain.persistence.tables import (
    CampaignRow,
    NoticeRow,
    OfferClaimRow,
    OfferRow,
    OrderRow,
    PointsBalanceRow,
    PointsEntryRow,
    RedemptionRow,
    RewardCouponRow,
    RewardRow,
)
from domain.repositories import SlotClaim
from domain.repositories.money import (
    GRANTED,
    RELEASED,
    CampaignView,
    LapseBatch,
    LapseWarning,
    LiveForCustomer,
    NewRedemption,
    NewRewardCoupon,
    OfferClaimView,
    RewardCouponView,
)

_OFFERS = cast(Table, OfferRow.__table__)
_CLAIMS = cast(Table, OfferClaimRow.__table__)

# The quota path, built once with bound parameters (offer_id, order_id, customer_id,
# cashback_fen, red_packet_fen, bonus_points, discount_fen, status, at): it runs for every
# paid order of a live campaign.
_RECORD_CLAIM = insert(_CLAIMS)


_CAMPAIGNS = cast(Table, CampaignRow.__table__)
_COUPONS = cast(Table, RewardCouponRow.__table__)
# One campaign by its code (an order's risk limits, a referral's programme).
_CAMPAIGN_BY_CODE = select(_CAMPAIGNS).where(_CAMPAIGNS.c.code == bindparam("code"))
# A customer's coupons not taken by an order and not expired, soonest first.
_USABLE_COUPONS = (
    select(_COUPONS)
    .where(
        _COUPONS.c.customer_id == bindparam("customer_id"),
        _COUPONS.c.order_id.is_(None),
        _COUPONS.c.expires_at > bindparam("now", type_=_COUPONS.c.expires_at.type),
    )
    .order_by(_COUPONS.c.expires_at, _COUPONS.c.id)
)
_ORDERS = cast(Table, OrderRow.__table__)
_BALANCES = cast(Table, PointsBalanceRow.__table__)
_ENTRIES = cast(Table, PointsEntryRow.__table__)

# The live campaigns, each row with one of its offers (or none: a campaign without offers),
# in the campaigns' order and then the offers'; one statement.
_LIVE = (
    select(_CAMPAIGNS, *OFFER_COLUMNS)
    .select_from(_CAMPAIGNS.outerjoin(_OFFERS, _OFFERS.c.campaign_id == _CAMPAIGNS.c.id))
    .where(_CAMPAIGNS.c.starts_at <= bindparam("now"), _CAMPAIGNS.c.ends_at > bindparam("now"))
    .order_by(_CAMPAIGNS.c.priority.desc(), _CAMPAIGNS.c.code, _OFFERS.c.id)
)
# Its rows' two halves, read by name as the campaign's and the offer's own rows are.
_LiveCampaign = namedtuple("_LiveCampaign", [column.name for column in _CAMPAIGNS.c])  # type: ignore[misc]
_LiveOffer = namedtuple("_LiveOffer", [column.name for column in OFFER_COLUMNS])  # type: ignore[misc]
_CAMPAIGN_WIDTH = len(_CAMPAIGNS.c)
_OFFERS_OF = (
    select(*OFFER_COLUMNS)
    .where(_OFFERS.c.campaign_id == bindparam("campaign_id"))
    .order_by(_OFFERS.c.id)
)
_OFFERS_BY_CODE = StatementsByKeys(
    lambda names: select(*OFFER_COLUMNS).where(
        or_(*(_OFFERS.c.code == bindparam(n) for n in names))
    )
)
_OFFER = select(*OFFER_COLUMNS).where(_OFFERS.c.id == bindparam("offer_id"))
_CAMPAIGN_ID = select(_CAMPAIGNS.c.id).where(_CAMPAIGNS.c.id == bindparam("campaign_id"))
_CLAIMS_OF_ORDER = (
    select(_CLAIMS).where(_CLAIMS.c.order_id == bindparam("order_id")).order_by(_CLAIMS.c.id)
)
_SETTLE_CLAIM = (
    update(_CLAIMS)
    .where(_CLAIMS.c.id == bindparam("claim_id"), _CLAIMS.c.status == HELD)
    .values(status=bindparam("v_status"))
)
_FORGET_CLAIMS = delete(_CLAIMS).where(_CLAIMS.c.order_id == bindparam("order_id"))
_OPEN_POINTS = insert(_BALANCES).values(customer_id=bindparam("customer_id"), points=0)
_POINTS_BALANCE = select(_BALANCES.c.points).where(
    _BALANCES.c.customer_id == bindparam("customer_id")
)
_GRANT_CLAIMS = (
    update(_CLAIMS)
    .where(_CLAIMS.c.order_id == bindparam("of_order"), _CLAIMS.c.status == HELD)
    .values(status=GRANTED)
)
_POINTS_ENTRY_BY_KEY = select(_ENTRIES).where(_ENTRIES.c.idempotency_key == bindparam("key"))
_COMPLETED_RECHARGES = (
    _ORDERS.c.customer_id == bindparam("customer_id"),
    _ORDERS.c.purpose == "recharge",
    _ORDERS.c.status == "completed",
)
_RECHARGE_TOTAL_SINCE = select(func.coalesce(func.sum(_ORDERS.c.amount_fen), 0)).where(
    *_COMPLETED_RECHARGES, _ORDERS.c.completed_at >= bindparam("since")
)


def _live_with_customer_figures() -> Select[Any]:
    """The live campaigns (as `_LIVE_CAMPAIGNS`), each row also carrying the customer's total
    of completed recharges since `since` and count of completed recharges ever; one row with
    no campaign when none is live."""
    completed_since = _ORDERS.c.completed_at >= bindparam("since")
    figures = (
        select(
            func.coalesce(func.sum(_ORDERS.c.amount_fen).filter(completed_since), 0).label(
                "recharge_total"
            ),
            func.count().label("completed_recharges"),
        )
        .where(*_COMPLETED_RECHARGES)
        .subquery("figures")
    )
    live = and_(_CAMPAIGNS.c.starts_at <= bindparam("now"), _CAMPAIGNS.c.ends_at > bindparam("now"))
    return (
        select(figures.c.recharge_total, figures.c.completed_recharges, _CAMPAIGNS)
        .select_from(figures.outerjoin(_CAMPAIGNS, live))
        .order_by(_CAMPAIGNS.c.priority.desc(), _CAMPAIGNS.c.code)
    )


_LIVE_WITH_CUSTOMER_FIGURES = _live_with_customer_figures()
_LIVE_OFFERS_WITH_USE = (
    select(
        *OFFER_COLUMNS,
        select(func.count())
        .where(
            _CLAIMS.c.offer_id == _OFFERS.c.id,
            _CLAIMS.c.customer_id == bindparam("customer_id"),
            or_(_CLAIMS.c.status == HELD, _CLAIMS.c.status == GRANTED),
        )
        .scalar_subquery()
        .label("used_by_customer"),
    )
    .join(_CAMPAIGNS, _CAMPAIGNS.c.id == _OFFERS.c.campaign_id)
    .where(_CAMPAIGNS.c.starts_at <= bindparam("now"), _CAMPAIGNS.c.ends_at > bindparam("now"))
    .order_by(_OFFERS.c.id)
)


class CampaignRepository(Repository):
    def __init__(self, uow: Connected) -> None:
        super().__init__(uow)
        # The live campaigns and offers this unit of work read, by code (`live_for_customer`).
        self._campaigns_read: dict[str, Record] = {}
        self._offers_read: dict[str, Record] = {}

    async def by_code(self, code: str) -> CampaignView | None:
        """The campaign: one statement, none when this unit of work read it live already (a
        quote's campaigns, whose risk limits the new order is counted against)."""
        if code in self._campaigns_read:
            return self._campaigns_read[code]  # type: ignore[no-any-return]
        return await (await self._core()).row(_CAMPAIGN_BY_CODE, code=code)

    async def offers_by_code(self, codes: Iterable[str]) -> dict[str, Record]:
        """The offers of `codes` that exist, by code: one statement, none when this unit of
        work read them all live already (a quote's offers, claimed right after it)."""
        wanted = list(codes)
        if all(code in self._offers_read for code in wanted):
            return {code: self._offers_read[code] for code in wanted}
        names = {f"code_{index}": code for index, code in enumerate(wanted)}
        if not names:
            return {}
        rows = await (await self._core()).rows(_OFFERS_BY_CODE(names), **names)
        return {row.code: row for row in rows}

    async def offer_to_edit(self, code: str) -> OfferRow | None:
        """The offer as a row of the session, for loading a campaign file over it."""
        result = await self._session.execute(select(OfferRow).where(OfferRow.code == code))
        return result.scalar_one_or_none()

    def add(self, row: CampaignRow | OfferRow) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()

    async def live(self, now: datetime) -> list[tuple[Any, list[Any]]]:
        """Campaigns whose window contains `now` (any status; the engine checks status), each
        with its offers: one statement however many campaigns are live."""
        live: list[tuple[Any, list[Any]]] = []
        for row in await (await self._core()).rows(_LIVE, now=now):
            campaign, offer = row[:_CAMPAIGN_WIDTH], row[_CAMPAIGN_WIDTH:]
            if not live or live[-1][0].id != campaign[0]:
                live.append((_LiveCampaign(*campaign), []))
            if offer[0] is not None:
                live[-1][1].append(_LiveOffer(*offer))
        return live

    async def live_for_customer(
        self, now: datetime, customer_id: int, since: datetime
    ) -> LiveForCustomer:
        """`live(now)` with the customer's figures a quote needs (`LiveForCustomer`): one
        statement when no campaign is live, two when any is."""
        core = await self._core()
        params = {"now": now, "customer_id": customer_id, "since": since}
        rows = await core.rows(_LIVE_WITH_CUSTOMER_FIGURES, **params)
        total = int(rows[0].recharge_total) if rows else 0
        completed = int(rows[0].completed_recharges) if rows else 0
        campaigns = [row for row in rows if row.id is not None]
        if not campaigns:
            return LiveForCustomer([], total, completed)
        self._campaigns_read.update((campaign.code, campaign) for campaign in campaigns)
        offers: dict[int, list[Record]] = {campaign.id: [] for campaign in campaigns}
        for offer in await core.rows(_LIVE_OFFERS_WITH_USE, **params):
            offers.setdefault(offer.campaign_id, []).append(offer)
            self._offers_read[offer.code] = offer
        live = [(campaign, offers[campaign.id]) for campaign in campaigns]
        return LiveForCustomer(live, total, completed)

    async def all(self) -> list[CampaignRow]:
        result = await self._session.execute(select(CampaignRow).order_by(CampaignRow.starts_at))
        return list(result.scalars())

    async def offer(self, offer_id: int) -> Record | None:
        return await (await self._core()).row(_OFFER, offer_id=offer_id)

    async def exists(self, campaign_id: int) -> bool:
        found = await (await self._core()).value(_CAMPAIGN_ID, campaign_id=campaign_id)
        return found is not None

    async def offers_of(self, campaign_id: int) -> list[Record]:
        return await (await self._core()).rows(_OFFERS_OF, campaign_id=campaign_id)


class OfferClaimRepository(Repository):
    async def claim(self, slot: SlotClaim, order_id: int, at: datetime) -> bool:
        """Take one of the offer's slots for the order (and its cash-back from the budget),
        and one of the customer's uses of it, if both are left; False, with nothing taken,
        if not. Each is one conditional statement, so however many orders claim at once,
        in any number of processes, the quota, the budget and the customer's uses are never
        exceeded.

        The slot is taken from one of the offer's shards (`offer_slots`), first: a sold-out
        offer is refused before anything else is written, and claims at once lock different
        shards until they commit."""
        core = await self._core()
        shard = await offer_slots.take(core, slot.offer_id, slot.cashback_fen)
        if shard is None:
            return False
        scope = offer_scope(slot.offer_id)
        limit = UNLIMITED if slot.uses_per_customer is None else slot.uses_per_customer
        if not await AllowanceRepository(self._uow).take(slot.customer_id, scope, 1, limit):
            await offer_slots.give_back(core, slot.offer_id, slot.cashback_fen, shard)
            return False
        await core.run(
            _RECORD_CLAIM,
            offer_id=slot.offer_id,
            cashback_fen=slot.cashback_fen,
            order_id=order_id,
            customer_id=slot.customer_id,
            red_packet_fen=slot.red_packet_fen,
            bonus_points=slot.bonus_points,
            discount_fen=slot.discount_fen,
            status=HELD,
            at=at,
        )
        return True

    async def of_order(self, order_id: int) -> list[Record]:
        return await (await self._core()).rows(_CLAIMS_OF_ORDER, order_id=order_id)

    async def settle(self, claim: OfferClaimView, to_status: str) -> bool:
        """held -> granted, or held -> released (giving the slot and budget back)."""
        core = await self._core()
        if not await core.run(_SETTLE_CLAIM, claim_id=claim.id, v_status=to_status):
            return False
        if to_status == RELEASED:
            await offer_slots.give_back(core, claim.offer_id, claim.cashback_fen)
            await AllowanceRepository(self._uow).give_back(
                claim.customer_id, offer_scope(claim.offer_id), 1
            )
        return True

    async def grant_all(self, order_id: int) -> None:
        """Every slot the order holds becomes granted (its offers' counts stay taken)."""
        await (await self._core()).run(_GRANT_CLAIMS, of_order=order_id)

    async def withdraw(self, order_id: int) -> None:
        """Give back every slot the order holds and forget its claims, as if never made."""
        for claim in await self.of_order(order_id):
            await self.settle(claim, RELEASED)
        await (await self._core()).run(_FORGET_CLAIMS, order_id=order_id)


class PointsRepository(Repository):
    async def open(self, customer_id: int) -> None:
        await (await self._core()).run(_OPEN_POINTS, customer_id=customer_id)

    async def balance(self, customer_id: int) -> int:
        core = await self._core()
        return int(await core.value(_POINTS_BALANCE, customer_id=customer_id) or 0)

    async def ledger_sum(self, customer_id: int) -> int:
        value = await self._session.scalar(
            select(func.coalesce(func.sum(PointsEntryRow.points), 0)).where(
                PointsEntryRow.customer_id == customer_id
            )
        )
        return int(value or 0)

    async def has_entry(self, key: str) -> bool:
        return await self.entry(key) is not None

    async def entry(self, key: str) -> Record | None:
        return await (await self._core()).row(_POINTS_ENTRY_BY_KEY, key=key)

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
        """Move the balance with its ledger entry; False if it would go below zero.

        One conditional statement moves the balance; the entry's unique key makes a replay
        fail with an IntegrityError."""
        core = await self._core()
        if expires_at is not None and points > 0:
            shifted = await core.run(
                POINTS_EARN_SHIFT, owner_id=customer_id, delta=points, lapses_at=expires_at
            )
        else:
            shifted = await core.run(POINTS_SHIFT, owner_id=customer_id, delta=points)
        if not shifted:
            return False
        await core.run(
            POINTS_ENTRY,
            v_customer_id=customer_id,
            v_points=points,
            v_kind=kind,
            v_order_id=order_id,
            v_idempotency_key=key,
            v_note=note[:128],
            v_at=at,
            v_expires_at=expires_at,
        )
        return True

    async def entries(self, customer_id: int, limit: int) -> list[PointsEntryRow]:
        result = await self._session.execute(
            select(PointsEntryRow)
            .where(PointsEntryRow.customer_id == customer_id)
            .order_by(PointsEntryRow.id.desc())
            .limit(limit)
        )
        return list(result.scalars())

    async def all_entries(self, customer_id: int) -> list[PointsEntryRow]:
        result = await self._session.execute(
            select(PointsEntryRow)
            .where(PointsEntryRow.customer_id == customer_id)
            .order_by(PointsEntryRow.at, PointsEntryRow.id)
        )
        return list(result.scalars())

    async def lapse_due(self, now: datetime, limit: int) -> LapseBatch:
        """Lapse the points past their date of up to `limit` customers due (set-based; see
        `domain.persistence.points_lapse`)."""
        return await lapse_batch(await self._core(), now, limit)

    async def lapse_warnings_due(
        self, now: datetime, before: datetime, limit: int
    ) -> tuple[int, list[LapseWarning]]:
        """Up to `limit` customers whose points lapse by `before` and who were not warned of
        it: how many were looked at, and each warning due, marked given."""
        return await warnings_batch(await self._core(), now, before, limit)

    async def lapse_warning_undelivered(self, customer_id: int) -> None:
        await unwarn(await self._core(), customer_id)

    async def recharge_total_since(self, customer_id: int, since: datetime) -> int:
        core = await self._core()
        total = await core.value(_RECHARGE_TOTAL_SINCE, customer_id=customer_id, since=since)
        return int(total or 0)


class RewardRepository(Repository):
    async def active(self) -> list[RewardRow]:
        result = await self._session.execute(
            select(RewardRow).where(RewardRow.active.is_(True)).order_by(RewardRow.cost_points)
        )
        return list(result.scalars())

    async def get(self, reward_id: int) -> RewardRow | None:
        return await self._session.get(RewardRow, reward_id, populate_existing=True)

    async def by_code(self, code: str) -> RewardRow | None:
        result = await self._session.execute(select(RewardRow).where(RewardRow.code == code))
        return result.scalar_one_or_none()

    def add(self, row: RewardRow | RedemptionRow) -> None:
        self._session.add(row)

    def add_redemption(self, redemption: NewRedemption) -> None:
        self._session.add(
            RedemptionRow(
                reward_id=redemption.reward_id,
                customer_id=redemption.customer_id,
                points=redemption.points,
                request_key=redemption.request_key,
                at=redemption.at,
                order_id=redemption.order_id,
            )
        )

    async def redemption(self, request_key: str) -> RedemptionRow | None:
        return await self._session.scalar(
            select(RedemptionRow).where(RedemptionRow.request_key == request_key)
        )

    async def redemption_of_order(self, order_id: int) -> RedemptionRow | None:
        return await self._session.scalar(
            select(RedemptionRow).where(RedemptionRow.order_id == order_id)
        )

    async def give_back_stock(self, reward_id: int) -> None:
        await self._session.execute(
            update(RewardRow)
            .where(RewardRow.id == reward_id, RewardRow.redeemed > 0)
            .values(redeemed=RewardRow.redeemed - 1)
            .execution_options(synchronize_session=False)
        )

    async def take_stock(self, reward_id: int) -> bool:
        result = await self._session.execute(
            update(RewardRow)
            .where(
                RewardRow.id == reward_id,
                (RewardRow.stock.is_(None)) | (RewardRow.redeemed < RewardRow.stock),
            )
            .values(redeemed=RewardRow.redeemed + 1)
            .returning(RewardRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None


class RewardCouponRepository(Repository):
    """Coupons customers redeemed points for. Taking one for an order is a conditional write:
    of two orders at once, exactly one gets it."""

    def add(self, row: RewardCouponRow) -> None:
        self._session.add(row)

    def add_coupon(self, coupon: NewRewardCoupon) -> None:
        self._session.add(
            RewardCouponRow(
                customer_id=coupon.customer_id,
                redemption_key=coupon.redemption_key,
                reward_code=coupon.reward_code,
                name_zh=coupon.name_zh,
                name_en=coupon.name_en,
                value_fen=coupon.value_fen,
                currency=coupon.currency,
                created_at=coupon.created_at,
                expires_at=coupon.expires_at,
            )
        )

    async def get(self, coupon_id: int) -> RewardCouponRow | None:
        return await self._session.get(RewardCouponRow, coupon_id, populate_existing=True)

    async def by_key(self, redemption_key: str) -> RewardCouponRow | None:
        return await self._session.scalar(
            select(RewardCouponRow).where(RewardCouponRow.redemption_key == redemption_key)
        )

    async def usable(self, customer_id: int, now: datetime) -> Sequence[RewardCouponView]:
        """The customer's coupons not taken by an order and not expired, soonest first."""
        return await (await self._core()).rows(_USABLE_COUPONS, customer_id=customer_id, now=now)

    async def take(self, coupon_id: int, customer_id: int, order_id: int, now: datetime) -> bool:
        """The order takes the customer's coupon if it is free and not expired (or it has it
        already): one conditional write."""
        result = await self._session.execute(
            update(RewardCouponRow)
            .where(
                RewardCouponRow.id == coupon_id,
                RewardCouponRow.customer_id == customer_id,
                RewardCouponRow.expires_at > now,
                or_(RewardCouponRow.order_id.is_(None), RewardCouponRow.order_id == order_id),
            )
            .values(order_id=order_id, used_at=now)
            .returning(RewardCouponRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def give_back(self, order_id: int) -> None:
        """The order expired or was refunded: its coupon can be used again."""
        await self._session.execute(
            update(RewardCouponRow)
            .where(RewardCouponRow.order_id == order_id)
            .values(order_id=None, used_at=None)
            .execution_options(synchronize_session=False)
        )


_NOTICES = cast(Table, NoticeRow.__table__)
# The notice's first record, or nothing where its key is kept already: a claim that lost the
# race to another transaction waits for it and is told False (never a broken unique key).
_RECORD_NOTICE = OnConflict(
    lambda insert: (
        insert(_NOTICES)
        .values(
            key=bindparam("key"),
            customer_id=bindparam("customer_id"),
            at=bindparam("at", type_=_NOTICES.c.at.type),
        )
        .on_conflict_do_nothing(index_elements=[_NOTICES.c.key])
        .returning(_NOTICES.c.id)
    )
)


class NoticeRepository(Repository):
    async def claim(self, key: str, customer_id: int, at: datetime) -> bool:
        """True for the one caller that records this notice first."""
        core = await self._core()
        return bool(await core.run(_RECORD_NOTICE, key=key, customer_id=customer_id, at=at))

    async def forget(self, key: str) -> None:
        await self._session.execute(delete(NoticeRow).where(NoticeRow.key == key))
