"""Repositories of campaigns, offers and their claims, points, rewards. They never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.persistence.repositories import shift_balance
from domain.persistence.tables import (
    CampaignRow,
    NoticeRow,
    OfferClaimRow,
    OfferRow,
    OrderRow,
    PointsBalanceRow,
    PointsEntryRow,
    RedemptionRow,
    RewardRow,
)

HELD, GRANTED, RELEASED = "held", "granted", "released"

_OFFERS = cast(Table, OfferRow.__table__)
_CLAIMS = cast(Table, OfferClaimRow.__table__)

# The quota path, built once with bound parameters (offer_id, order_id, customer_id,
# cashback_fen, status, at): it runs for every paid order of a live campaign.
_TAKE_SLOT = (
    update(_OFFERS)
    .where(
        _OFFERS.c.id == bindparam("offer_id"),
        _OFFERS.c.quota.is_(None) | (_OFFERS.c.used < _OFFERS.c.quota),
        _OFFERS.c.budget_fen.is_(None)
        | (_OFFERS.c.spent_fen + bindparam("cashback_fen") <= _OFFERS.c.budget_fen),
    )
    .values(used=_OFFERS.c.used + 1, spent_fen=_OFFERS.c.spent_fen + bindparam("cashback_fen"))
    .returning(_OFFERS.c.id)
)
_CLAIM_COLUMNS = ("offer_id", "order_id", "customer_id", "cashback_fen", "status", "at")
_RECORD_CLAIM = insert(_CLAIMS).values({name: bindparam(name) for name in _CLAIM_COLUMNS})
_TAKEN = _TAKE_SLOT.cte("taken")
_TAKE_AND_RECORD = (
    insert(_CLAIMS)
    .from_select(
        list(_CLAIM_COLUMNS),
        select(
            _TAKEN.c.id,
            bindparam("order_id"),
            bindparam("customer_id"),
            bindparam("cashback_fen"),
            bindparam("status"),
            bindparam("at", type_=_CLAIMS.c.at.type),
        ),
    )
    .returning(_CLAIMS.c.id)
)


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_code(self, code: str) -> CampaignRow | None:
        result = await self._session.execute(select(CampaignRow).where(CampaignRow.code == code))
        return result.scalar_one_or_none()

    async def offer_by_code(self, code: str) -> OfferRow | None:
        result = await self._session.execute(select(OfferRow).where(OfferRow.code == code))
        return result.scalar_one_or_none()

    def add(self, row: CampaignRow | OfferRow) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()

    async def live(self, now: datetime) -> list[tuple[CampaignRow, list[OfferRow]]]:
        """Campaigns whose window contains `now` (any status; the engine checks status)."""
        campaigns = list(
            (
                await self._session.execute(
                    select(CampaignRow)
                    .where(CampaignRow.starts_at <= now, CampaignRow.ends_at > now)
                    .order_by(CampaignRow.priority.desc(), CampaignRow.code)
                )
            ).scalars()
        )
        return [(c, await self.offers_of(c.id)) for c in campaigns]

    async def all(self) -> list[CampaignRow]:
        result = await self._session.execute(select(CampaignRow).order_by(CampaignRow.starts_at))
        return list(result.scalars())

    async def offers_of(self, campaign_id: int) -> list[OfferRow]:
        result = await self._session.execute(
            select(OfferRow).where(OfferRow.campaign_id == campaign_id).order_by(OfferRow.id)
        )
        return list(result.scalars())


class OfferClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self, offer_id: int, order_id: int, customer_id: int, cashback_fen: int, at: datetime
    ) -> bool:
        """Take one slot (and the cash-back from the budget) if any is left; False if not.

        The check and the increment are one conditional statement, so however many claim at
        once, the quota and the budget are never exceeded.
        """
        values = {
            "offer_id": offer_id,
            "order_id": order_id,
            "customer_id": customer_id,
            "cashback_fen": cashback_fen,
            "status": HELD,
            "at": at,
        }
        if self._session.get_bind().dialect.name == "postgresql":
            # One round trip: every customer contends for the offer's row, whose lock is then
            # held only for this statement and the commit.
            return (await self._session.execute(_TAKE_AND_RECORD, values)).first() is not None
        if (await self._session.execute(_TAKE_SLOT, values)).first() is None:
            return False
        await self._session.execute(_RECORD_CLAIM, values)
        return True

    async def of_order(self, order_id: int) -> list[OfferClaimRow]:
        result = await self._session.execute(
            select(OfferClaimRow).where(OfferClaimRow.order_id == order_id)
        )
        return list(result.scalars())

    async def settle(self, claim: OfferClaimRow, to_status: str) -> bool:
        """held -> granted, or held -> released (giving the slot and budget back)."""
        result = await self._session.execute(
            update(OfferClaimRow)
            .where(OfferClaimRow.id == claim.id, OfferClaimRow.status == HELD)
            .values(status=to_status)
            .returning(OfferClaimRow.id)
            .execution_options(synchronize_session=False)
        )
        if result.first() is None:
            return False
        if to_status == RELEASED:
            await self._session.execute(
                update(OfferRow)
                .where(OfferRow.id == claim.offer_id)
                .values(used=OfferRow.used - 1, spent_fen=OfferRow.spent_fen - claim.cashback_fen)
                .execution_options(synchronize_session=False)
            )
        return True

    async def used_by_customer(self, customer_id: int, offer_ids: Iterable[int]) -> dict[int, int]:
        ids = list(offer_ids)
        if not ids:
            return {}
        result = await self._session.execute(
            select(OfferClaimRow.offer_id, func.count())
            .where(
                OfferClaimRow.customer_id == customer_id,
                OfferClaimRow.offer_id.in_(ids),
                OfferClaimRow.status.in_([HELD, GRANTED]),
            )
            .group_by(OfferClaimRow.offer_id)
        )
        return {offer_id: int(count) for offer_id, count in result.all()}


class PointsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def open(self, customer_id: int) -> None:
        self._session.add(PointsBalanceRow(customer_id=customer_id, points=0))

    async def balance(self, customer_id: int) -> int:
        value = await self._session.scalar(
            select(PointsBalanceRow.points).where(PointsBalanceRow.customer_id == customer_id)
        )
        return int(value or 0)

    async def ledger_sum(self, customer_id: int) -> int:
        value = await self._session.scalar(
            select(func.coalesce(func.sum(PointsEntryRow.points), 0)).where(
                PointsEntryRow.customer_id == customer_id
            )
        )
        return int(value or 0)

    async def has_entry(self, key: str) -> bool:
        found = await self._session.scalar(
            select(PointsEntryRow.id).where(PointsEntryRow.idempotency_key == key)
        )
        return found is not None

    async def entry(self, key: str) -> PointsEntryRow | None:
        result = await self._session.execute(
            select(PointsEntryRow).where(PointsEntryRow.idempotency_key == key)
        )
        return result.scalar_one_or_none()

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
        """Move the balance with its ledger entry; False if it would go below zero."""
        moved = await shift_balance(
            self._session,
            PointsBalanceRow.points,
            PointsBalanceRow.customer_id,
            customer_id,
            points,
        )
        if not moved:
            return False
        self._session.add(
            PointsEntryRow(
                customer_id=customer_id,
                points=points,
                kind=kind,
                order_id=order_id,
                idempotency_key=key,
                note=note[:128],
                at=at,
                expires_at=expires_at,
            )
        )
        await self._session.flush()
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

    async def customers_with_lapsing(self, before: datetime) -> list[int]:
        result = await self._session.execute(
            select(PointsEntryRow.customer_id)
            .where(PointsEntryRow.kind == "earn", PointsEntryRow.expires_at <= before)
            .distinct()
        )
        return list(result.scalars())

    async def recharge_total_since(self, customer_id: int, since: datetime) -> int:
        total = await self._session.scalar(
            select(func.coalesce(func.sum(OrderRow.amount_fen), 0)).where(
                OrderRow.customer_id == customer_id,
                OrderRow.purpose == "recharge",
                OrderRow.status == "completed",
                OrderRow.completed_at >= since,
            )
        )
        return int(total or 0)

    async def completed_recharges(self, customer_id: int) -> int:
        count = await self._session.scalar(
            select(func.count()).where(
                OrderRow.customer_id == customer_id,
                OrderRow.purpose == "recharge",
                OrderRow.status == "completed",
            )
        )
        return int(count or 0)


class RewardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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

    async def redeemed_by(self, customer_id: int, reward_id: int) -> int:
        count = await self._session.scalar(
            select(func.count()).where(
                RedemptionRow.customer_id == customer_id, RedemptionRow.reward_id == reward_id
            )
        )
        return int(count or 0)


class NoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, key: str, customer_id: int, at: datetime) -> bool:
        """True for the one caller that records this notice first."""
        exists = await self._session.scalar(select(NoticeRow.id).where(NoticeRow.key == key))
        if exists is not None:
            return False
        self._session.add(NoticeRow(key=key, customer_id=customer_id, at=at))
        await self._session.flush()
        return True

    async def forget(self, key: str) -> None:
        await self._session.execute(delete(NoticeRow).where(NoticeRow.key == key))
