"""Queries of the referral programme over one session. They never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from domain.persistence.core import Repository, insert_on_conflict
from domain.persistence.referral_tables import (
    InviteCodeRow,
    ReferralCapRow,
    ReferralRewardRow,
    ReferralRow,
    ReferralShortfallRow,
)
from domain.persistence.tables import CustomerRow, OrderRow, PhoneBindingRow
from domain.referrals import ReferralStatus
from domain.repositories.referrals import NewReferral, NewReferralReward, NewShortfall


class ReferralRepository(Repository):
    # -- invite codes ---------------------------------------------------------------------------
    async def code_of(self, customer_id: int) -> str | None:
        value = await self._session.scalar(
            select(InviteCodeRow.code).where(InviteCodeRow.customer_id == customer_id)
        )
        return None if value is None else str(value)

    async def add_code(self, customer_id: int, code: str, at: datetime) -> None:
        """Give the customer this code unless they have one already (one statement)."""
        statement = insert_on_conflict(self._session, InviteCodeRow).values(
            customer_id=customer_id, code=code, created_at=at
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=[InviteCodeRow.customer_id])
        )

    async def owner_of(self, code: str) -> int | None:
        value = await self._session.scalar(
            select(InviteCodeRow.customer_id).where(InviteCodeRow.code == code)
        )
        return None if value is None else int(value)

    # -- referrals ------------------------------------------------------------------------------
    def add_referral(self, referral: NewReferral) -> None:
        self._session.add(
            ReferralRow(
                inviter_id=referral.inviter_id,
                friend_id=referral.friend_id,
                status=referral.status,
                joined_at=referral.joined_at,
                alert_sent=False,
            )
        )

    def add_reward(self, reward: NewReferralReward) -> None:
        self._session.add(
            ReferralRewardRow(
                referral_id=reward.referral_id,
                customer_id=reward.customer_id,
                side=reward.side,
                kind=reward.kind,
                points=reward.points,
                amount_fen=reward.amount_fen,
                coupon_code=reward.coupon_code,
                status=reward.status,
                created_at=reward.created_at,
                claim_by=reward.claim_by,
                notified=False,
            )
        )

    def add_shortfall(self, shortfall: NewShortfall) -> None:
        self._session.add(
            ReferralShortfallRow(
                reward_id=shortfall.reward_id,
                customer_id=shortfall.customer_id,
                points=shortfall.points,
                amount_fen=shortfall.amount_fen,
                at=shortfall.at,
                alert_sent=False,
            )
        )

    async def flush(self) -> None:
        await self._session.flush()

    async def get(self, referral_id: int) -> ReferralRow | None:
        return await self._session.get(ReferralRow, referral_id, populate_existing=True)

    async def inviter_of(self, friend_id: int) -> int | None:
        value = await self._session.scalar(
            select(ReferralRow.inviter_id).where(ReferralRow.friend_id == friend_id)
        )
        return None if value is None else int(value)

    async def has_orders(self, customer_id: int) -> bool:
        found = await self._session.scalar(
            select(OrderRow.id).where(OrderRow.customer_id == customer_id).limit(1)
        )
        return found is not None

    async def qualifying_candidates(
        self,
        status: str,
        order_status: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
    ) -> list[tuple[int, int, int, int, int, datetime, str | None]]:
        """(referral, inviter, friend, order, amount, completed at, number) of friends'
        completed recharges since they joined, for referrals still at `status`, oldest first;
        only recharges after `after` (completed at, order id) when given (read from the
        completed recharges' index)."""
        statement = (
            select(
                ReferralRow.id,
                ReferralRow.inviter_id,
                ReferralRow.friend_id,
                OrderRow.id,
                OrderRow.amount_fen,
                OrderRow.completed_at,
                OrderRow.phone_digits,
            )
            .join(OrderRow, OrderRow.customer_id == ReferralRow.friend_id)
            .where(
                ReferralRow.status == status,
                OrderRow.purpose == "recharge",
                OrderRow.status == order_status,
                OrderRow.completed_at.is_not(None),
                OrderRow.completed_at >= ReferralRow.joined_at,
            )
            .order_by(OrderRow.completed_at, OrderRow.id)
            .limit(limit)
        )
        if after is not None:
            at, order_id = after
            statement = statement.where(
                or_(
                    OrderRow.completed_at > at,
                    and_(OrderRow.completed_at == at, OrderRow.id > order_id),
                )
            )
        result = await self._session.execute(statement)
        return [tuple(row) for row in result.all()]  # type: ignore[misc]

    async def move(self, referral_id: int, from_statuses: Iterable[str], **values: Any) -> bool:
        """Change the referral only if it is at one of `from_statuses` now (one statement)."""
        result = await self._session.execute(
            update(ReferralRow)
            .where(ReferralRow.id == referral_id, ReferralRow.status.in_(list(from_statuses)))
            .values(**values)
            .returning(ReferralRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def approve_first(self, referral_id: int, by: int) -> bool:
        """The first of two approvals, once: a held referral nobody approved yet."""
        result = await self._session.execute(
            update(ReferralRow)
            .where(
                ReferralRow.id == referral_id,
                ReferralRow.status == ReferralStatus.HELD.value,
                ReferralRow.first_approver.is_(None),
            )
            .values(first_approver=by)
            .returning(ReferralRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def phones_of(self, customer_id: int) -> set[str]:
        result = await self._session.execute(
            select(PhoneBindingRow.digits).where(PhoneBindingRow.customer_id == customer_id)
        )
        return set(result.scalars())

    async def bound_by_others(self, digits: Iterable[str], customers: Iterable[int]) -> bool:
        numbers = [d for d in digits if d]
        if not numbers:
            return False
        found = await self._session.scalar(
            select(PhoneBindingRow.id)
            .where(
                PhoneBindingRow.digits.in_(numbers),
                PhoneBindingRow.customer_id.not_in(list(customers)),
            )
            .limit(1)
        )
        return found is not None

    async def take_cap(self, inviter_id: int, period: str, cap: int) -> bool:
        """One slot of the inviter's cap in this period; False when it is used up. The check
        and the increment are one conditional statement (and it locks the inviter's row)."""
        statement = insert_on_conflict(self._session, ReferralCapRow).values(
            inviter_id=inviter_id, period=period, used=0
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(
                index_elements=[ReferralCapRow.inviter_id, ReferralCapRow.period]
            )
        )
        result = await self._session.execute(
            update(ReferralCapRow)
            .where(
                ReferralCapRow.inviter_id == inviter_id,
                ReferralCapRow.period == period,
                ReferralCapRow.used < cap,
            )
            .values(used=ReferralCapRow.used + 1)
            .returning(ReferralCapRow.used)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def qualified_since(self, inviter_id: int, since: datetime) -> int:
        count = await self._session.scalar(
            select(func.count()).where(
                ReferralRow.inviter_id == inviter_id,
                ReferralRow.qualified_at.is_not(None),
                ReferralRow.qualified_at >= since,
            )
        )
        return int(count or 0)

    async def refunded(self, statuses: Iterable[str], order_status: str, limit: int) -> list[int]:
        result = await self._session.execute(
            select(ReferralRow.id)
            .join(OrderRow, OrderRow.id == ReferralRow.order_id)
            .where(ReferralRow.status.in_(list(statuses)), OrderRow.status == order_status)
            .order_by(ReferralRow.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def of_inviter(self, inviter_id: int) -> dict[str, int]:
        result = await self._session.execute(
            select(ReferralRow.status, func.count())
            .where(ReferralRow.inviter_id == inviter_id)
            .group_by(ReferralRow.status)
        )
        return {str(status): int(count) for status, count in result.all()}

    async def leaders(self, campaign_code: str, status: str, limit: int) -> list[tuple[str, int]]:
        result = await self._session.execute(
            select(CustomerRow.first_name, func.count(ReferralRow.id).label("friends"))
            .join(CustomerRow, CustomerRow.id == ReferralRow.inviter_id)
            .where(ReferralRow.campaign_code == campaign_code, ReferralRow.status == status)
            .group_by(ReferralRow.inviter_id, CustomerRow.first_name)
            .order_by(func.count(ReferralRow.id).desc(), func.min(ReferralRow.qualified_at))
            .limit(limit)
        )
        return [(name or "", int(count)) for name, count in result.all()]

    async def unsent_alerts(self, limit: int) -> list[ReferralRow]:
        result = await self._session.execute(
            select(ReferralRow)
            .where(ReferralRow.alert.is_not(None), ReferralRow.alert_sent.is_(False))
            .order_by(ReferralRow.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def set_alert_sent(self, referral_id: int, sent: bool) -> bool:
        result = await self._session.execute(
            update(ReferralRow)
            .where(ReferralRow.id == referral_id, ReferralRow.alert_sent.is_(not sent))
            .values(alert_sent=sent)
            .returning(ReferralRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    # -- rewards --------------------------------------------------------------------------------
    async def rewards_of_referral(self, referral_id: int) -> list[ReferralRewardRow]:
        result = await self._session.execute(
            select(ReferralRewardRow)
            .where(ReferralRewardRow.referral_id == referral_id)
            .order_by(ReferralRewardRow.id)
        )
        return list(result.scalars())

    async def rewards_of(self, customer_id: int) -> list[ReferralRewardRow]:
        result = await self._session.execute(
            select(ReferralRewardRow)
            .where(ReferralRewardRow.customer_id == customer_id)
            .order_by(ReferralRewardRow.id)
        )
        return list(result.scalars())

    async def reward(self, reward_id: int) -> ReferralRewardRow | None:
        return await self._session.get(ReferralRewardRow, reward_id, populate_existing=True)

    async def move_reward(
        self,
        reward_id: int,
        from_statuses: Iterable[str],
        to_status: str,
        *,
        customer_id: int | None = None,
        claimable_after: datetime | None = None,
        **values: Any,
    ) -> ReferralRewardRow | None:
        """Move the reward only if it is at one of `from_statuses` (and the customer's, and
        still within its window when `claimable_after` is given): one conditional statement."""
        statement = update(ReferralRewardRow).where(
            ReferralRewardRow.id == reward_id,
            ReferralRewardRow.status.in_(list(from_statuses)),
        )
        if customer_id is not None:
            statement = statement.where(ReferralRewardRow.customer_id == customer_id)
        if claimable_after is not None:
            statement = statement.where(ReferralRewardRow.claim_by > claimable_after)
        result = await self._session.execute(
            statement.values(status=to_status, **values)
            .returning(ReferralRewardRow)
            .execution_options(synchronize_session=False)
        )
        return result.scalar_one_or_none()

    async def expire(self, status: str, to_status: str, now: datetime) -> int:
        result = await self._session.execute(
            update(ReferralRewardRow)
            .where(ReferralRewardRow.status == status, ReferralRewardRow.claim_by <= now)
            .values(status=to_status)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def unnotified(self, status: str, limit: int) -> list[ReferralRewardRow]:
        result = await self._session.execute(
            select(ReferralRewardRow)
            .where(ReferralRewardRow.status == status, ReferralRewardRow.notified.is_(False))
            .order_by(ReferralRewardRow.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def set_notified(self, reward_id: int, notified: bool) -> bool:
        result = await self._session.execute(
            update(ReferralRewardRow)
            .where(ReferralRewardRow.id == reward_id, ReferralRewardRow.notified.is_(not notified))
            .values(notified=notified)
            .returning(ReferralRewardRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    # -- shortfalls -----------------------------------------------------------------------------
    async def shortfalls(self, *, unsent_only: bool, limit: int) -> list[ReferralShortfallRow]:
        statement = select(ReferralShortfallRow).order_by(ReferralShortfallRow.id).limit(limit)
        if unsent_only:
            statement = statement.where(ReferralShortfallRow.alert_sent.is_(False))
        return list((await self._session.execute(statement)).scalars())

    async def set_shortfall_sent(self, shortfall_id: int, sent: bool) -> bool:
        result = await self._session.execute(
            update(ReferralShortfallRow)
            .where(
                ReferralShortfallRow.id == shortfall_id,
                ReferralShortfallRow.alert_sent.is_(not sent),
            )
            .values(alert_sent=sent)
            .returning(ReferralShortfallRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    # -- staff review and reversal notices ------------------------------------------------------
    async def with_status(self, status: str, limit: int) -> list[ReferralRow]:
        result = await self._session.execute(
            select(ReferralRow)
            .where(ReferralRow.status == status)
            .order_by(ReferralRow.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def unnotified_reversals(
        self, statuses: Iterable[str], limit: int
    ) -> list[tuple[ReferralRewardRow, str]]:
        """Rewards at one of `statuses` not told yet, with their referral's status."""
        result = await self._session.execute(
            select(ReferralRewardRow, ReferralRow.status)
            .join(ReferralRow, ReferralRow.id == ReferralRewardRow.referral_id)
            .where(
                ReferralRewardRow.status.in_(list(statuses)),
                ReferralRewardRow.notified.is_(False),
            )
            .order_by(ReferralRewardRow.id)
            .limit(limit)
        )
        return [(row, str(status)) for row, status in result.all()]

    async def coupon_codes(self, reward_ids: Iterable[int]) -> dict[int, str]:
        """The coupon code of each of these rewards that has one (coupon rewards)."""
        ids = list(reward_ids)
        if not ids:
            return {}
        result = await self._session.execute(
            select(ReferralRewardRow.id, ReferralRewardRow.coupon_code).where(
                ReferralRewardRow.id.in_(ids),
                ReferralRewardRow.coupon_code.is_not(None),
            )
        )
        return {int(reward_id): str(code) for reward_id, code in result.all()}
