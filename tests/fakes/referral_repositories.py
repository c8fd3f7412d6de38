"""The referral repository (`domain/repositories/referrals.py`) in memory, for the fake unit of
work (`tests/fakes/unit_of_work.py`): invite codes, referrals, their rewards, inviters' caps and
clawback shortfalls.

It keeps the SQL repository's semantics (`domain/persistence/referral_repositories.py`): a
referral, a reward or a status moves only from the statuses given (one conditional write), so a
reward is claimed once; an inviter's cap is never passed; a friend is referred once, a reward
given once per referral and side, a shortfall kept once per reward, and a second such row is a
`RecordConflict` when the unit of work commits (as an added ORM row is flushed); a code another
customer has, or an order that qualified another referral, is one at once (as a Core write).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from domain.errors import RecordConflict
from domain.referrals import ReferralStatus
from domain.repositories.referrals import (
    Candidate,
    NewReferral,
    NewReferralReward,
    NewShortfall,
)
from tests.fakes.money_repositories import utc, utc_or_none

if TYPE_CHECKING:
    from tests.fakes.unit_of_work import FakeUnitOfWork, Tables


@dataclass(frozen=True)
class FakeInviteCode:
    customer_id: int
    code: str
    created_at: datetime


@dataclass(frozen=True)
class FakeReferral:
    id: int
    inviter_id: int
    friend_id: int
    status: str
    joined_at: datetime
    order_id: int | None = None
    campaign_code: str | None = None
    qualified_at: datetime | None = None
    reversed_at: datetime | None = None
    alert: str | None = None
    alert_sent: bool = False
    first_approver: int | None = None


@dataclass(frozen=True)
class FakeReferralReward:
    id: int
    referral_id: int
    customer_id: int
    side: str
    kind: str
    points: int
    amount_fen: int
    coupon_code: str | None
    status: str
    created_at: datetime
    claim_by: datetime | None
    claimed_at: datetime | None = None
    notified: bool = False


@dataclass(frozen=True)
class FakeShortfall:
    id: int
    reward_id: int
    customer_id: int
    points: int
    amount_fen: int
    at: datetime
    alert_sent: bool = False


_LAST = datetime.max.replace(tzinfo=UTC)
_REFERRAL_FIELDS = frozenset(f.name for f in fields(FakeReferral)) - {"id"}
_REWARD_FIELDS = frozenset(f.name for f in fields(FakeReferralReward)) - {"id"}


def _kept(value: object) -> object:
    """A value as the databases keep it: a time in UTC (a naive one is refused), a status (a
    `StrEnum`) as its plain text."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, str):
        return str(value)
    return value


def _times(values: dict[str, object]) -> dict[str, object]:
    return {key: _kept(value) for key, value in values.items()}


class _UniqueTogether:
    """At most one row of `table` has these values of `names` (checked when the unit of work
    commits, as the database does when the added row is flushed)."""

    def __init__(self, table: str, **key: object) -> None:
        self.table, self.key = table, key

    def __call__(self, tables: Tables) -> None:
        rows: dict[int, object] = getattr(tables, self.table)
        found = [
            row
            for row in rows.values()
            if all(getattr(row, name) == value for name, value in self.key.items())
        ]
        if len(found) > 1:
            raise RecordConflict(f"{self.table}: {self.key} exists")


class FakeReferralRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _t(self) -> Tables:
        return self._uow.tables

    # -- invite codes
    async def code_of(self, customer_id: int) -> str | None:
        kept = self._t.invite_codes.get(customer_id)
        return kept.code if kept is not None else None

    async def add_code(self, customer_id: int, code: str, at: datetime) -> None:
        if customer_id in self._t.invite_codes:
            return
        if any(c.code == code for c in self._t.invite_codes.values()):
            raise RecordConflict(f"invite code {code!r} exists")
        self._t.invite_codes[customer_id] = FakeInviteCode(customer_id, code, utc(at))

    async def owner_of(self, code: str) -> int | None:
        return next((c.customer_id for c in self._t.invite_codes.values() if c.code == code), None)

    # -- referrals
    def add_referral(self, referral: NewReferral) -> None:
        referral_id = self._t.next_id("referrals")
        self._t.referrals[referral_id] = FakeReferral(
            referral_id,
            referral.inviter_id,
            referral.friend_id,
            str(referral.status),
            utc(referral.joined_at),
        )
        self._uow.check_later(_UniqueTogether("referrals", friend_id=referral.friend_id))

    def add_reward(self, reward: NewReferralReward) -> None:
        reward_id = self._t.next_id("referral_rewards")
        self._t.referral_rewards[reward_id] = FakeReferralReward(
            id=reward_id,
            referral_id=reward.referral_id,
            customer_id=reward.customer_id,
            side=reward.side,
            kind=reward.kind,
            points=reward.points,
            amount_fen=reward.amount_fen,
            coupon_code=reward.coupon_code,
            status=str(reward.status),
            created_at=utc(reward.created_at),
            claim_by=utc_or_none(reward.claim_by),
        )
        self._uow.check_later(
            _UniqueTogether("referral_rewards", referral_id=reward.referral_id, side=reward.side)
        )

    def add_shortfall(self, shortfall: NewShortfall) -> None:
        shortfall_id = self._t.next_id("referral_shortfalls")
        self._t.referral_shortfalls[shortfall_id] = FakeShortfall(
            shortfall_id,
            shortfall.reward_id,
            shortfall.customer_id,
            shortfall.points,
            shortfall.amount_fen,
            utc(shortfall.at),
        )
        self._uow.check_later(_UniqueTogether("referral_shortfalls", reward_id=shortfall.reward_id))

    async def get(self, referral_id: int) -> FakeReferral | None:
        return self._t.referrals.get(referral_id)

    async def inviter_of(self, friend_id: int) -> int | None:
        return next(
            (r.inviter_id for r in self._t.referrals.values() if r.friend_id == friend_id), None
        )

    async def has_orders(self, customer_id: int) -> bool:
        return any(o.customer_id == customer_id for o in self._t.orders.values())

    async def qualifying_candidates(
        self,
        status: str,
        order_status: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
    ) -> list[Candidate]:
        found: list[Candidate] = []
        for referral in self._t.referrals.values():
            if referral.status != status:
                continue
            for order in self._t.orders.values():
                completed = order.completed_at
                if (
                    order.customer_id != referral.friend_id
                    or order.purpose != "recharge"
                    or order.status != order_status
                    or completed is None
                    or completed < referral.joined_at
                    or (after is not None and (completed, order.id) <= after)
                ):
                    continue
                found.append(
                    (
                        referral.id,
                        referral.inviter_id,
                        referral.friend_id,
                        order.id,
                        order.amount_fen,
                        completed,
                        order.phone_digits,
                    )
                )
        return sorted(found, key=lambda c: (c[5], c[3]))[:limit]

    async def move(self, referral_id: int, from_statuses: Iterable[str], **values: object) -> bool:
        unknown = set(values) - _REFERRAL_FIELDS
        if unknown:
            raise TypeError(f"referrals have no {sorted(unknown)}")
        referral = self._t.referrals.get(referral_id)
        if referral is None or referral.status not in set(from_statuses):
            return False
        order_id = values.get("order_id")
        if order_id is not None and any(
            r.order_id == order_id and r.id != referral_id for r in self._t.referrals.values()
        ):
            raise RecordConflict(f"order {order_id} qualified another referral")
        self._t.referrals[referral_id] = replace(referral, **_times(values))  # type: ignore[arg-type]
        return True

    async def approve_first(self, referral_id: int, by: int) -> bool:
        referral = self._t.referrals.get(referral_id)
        if (
            referral is None
            or referral.status != ReferralStatus.HELD.value
            or referral.first_approver is not None
        ):
            return False
        self._t.referrals[referral_id] = replace(referral, first_approver=by)
        return True

    async def phones_of(self, customer_id: int) -> set[str]:
        return {p.digits for p in self._t.phones.values() if p.customer_id == customer_id}

    async def bound_by_others(self, digits: Iterable[str], customers: Iterable[int]) -> bool:
        numbers = {d for d in digits if d}
        ours = set(customers)
        return any(
            p.digits in numbers and p.customer_id not in ours for p in self._t.phones.values()
        )

    async def take_cap(self, inviter_id: int, period: str, cap: int) -> bool:
        used = self._t.referral_caps.setdefault((inviter_id, period), 0)
        if used >= cap:
            return False
        self._t.referral_caps[(inviter_id, period)] = used + 1
        return True

    async def qualified_since(self, inviter_id: int, since: datetime) -> int:
        return sum(
            1
            for r in self._t.referrals.values()
            if r.inviter_id == inviter_id and r.qualified_at is not None and r.qualified_at >= since
        )

    async def refunded(self, statuses: Iterable[str], order_status: str, limit: int) -> list[int]:
        wanted = set(statuses)
        found = []
        for r in sorted(self._t.referrals.values(), key=lambda r: r.id):
            order = self._t.orders.get(r.order_id) if r.order_id is not None else None
            if r.status in wanted and order is not None and order.status == order_status:
                found.append(r.id)
        return found[:limit]

    async def of_inviter(self, inviter_id: int) -> dict[str, int]:
        return dict(
            Counter(r.status for r in self._t.referrals.values() if r.inviter_id == inviter_id)
        )

    async def leaders(self, campaign_code: str, status: str, limit: int) -> list[tuple[str, int]]:
        friends: dict[int, list[FakeReferral]] = {}
        for r in self._t.referrals.values():
            if r.campaign_code == campaign_code and r.status == status:
                friends.setdefault(r.inviter_id, []).append(r)

        def first(rows: list[FakeReferral]) -> datetime:
            return min((r.qualified_at for r in rows if r.qualified_at is not None), default=_LAST)

        ranked = sorted(friends.items(), key=lambda kv: (-len(kv[1]), first(kv[1])))
        found = []
        for inviter_id, rows in ranked[:limit]:
            customer = self._t.customers.get(inviter_id)
            name = customer.first_name if customer is not None else None
            found.append((name or "", len(rows)))
        return found

    async def unsent_alerts(self, limit: int) -> list[FakeReferral]:
        found = [r for r in self._t.referrals.values() if r.alert is not None and not r.alert_sent]
        return sorted(found, key=lambda r: r.id)[:limit]

    async def set_alert_sent(self, referral_id: int, sent: bool) -> bool:
        referral = self._t.referrals.get(referral_id)
        if referral is None or referral.alert_sent == sent:
            return False
        self._t.referrals[referral_id] = replace(referral, alert_sent=sent)
        return True

    async def with_status(self, status: str, limit: int) -> list[FakeReferral]:
        found = [r for r in self._t.referrals.values() if r.status == status]
        return sorted(found, key=lambda r: r.id)[:limit]

    # -- rewards
    def _rewards(self, keep: Iterable[FakeReferralReward]) -> list[FakeReferralReward]:
        return sorted(keep, key=lambda r: r.id)

    async def rewards_of_referral(self, referral_id: int) -> list[FakeReferralReward]:
        rewards = self._t.referral_rewards.values()
        return self._rewards(r for r in rewards if r.referral_id == referral_id)

    async def rewards_of(self, customer_id: int) -> list[FakeReferralReward]:
        rewards = self._t.referral_rewards.values()
        return self._rewards(r for r in rewards if r.customer_id == customer_id)

    async def reward(self, reward_id: int) -> FakeReferralReward | None:
        return self._t.referral_rewards.get(reward_id)

    async def move_reward(
        self,
        reward_id: int,
        from_statuses: Iterable[str],
        to_status: str,
        *,
        customer_id: int | None = None,
        claimable_after: datetime | None = None,
        **values: object,
    ) -> FakeReferralReward | None:
        unknown = set(values) - _REWARD_FIELDS
        if unknown:
            raise TypeError(f"referral rewards have no {sorted(unknown)}")
        reward = self._t.referral_rewards.get(reward_id)
        if (
            reward is None
            or reward.status not in set(from_statuses)
            or (customer_id is not None and reward.customer_id != customer_id)
            or (
                claimable_after is not None
                and (reward.claim_by is None or reward.claim_by <= claimable_after)
            )
        ):
            return None
        moved = replace(reward, **_times(values), status=str(to_status))  # type: ignore[arg-type]
        self._t.referral_rewards[reward_id] = moved
        return moved

    async def expire(self, status: str, to_status: str, now: datetime) -> int:
        count = 0
        for reward in list(self._t.referral_rewards.values()):
            if reward.status == status and reward.claim_by is not None and reward.claim_by <= now:
                self._t.referral_rewards[reward.id] = replace(reward, status=str(to_status))
                count += 1
        return count

    async def unnotified(self, status: str, limit: int) -> list[FakeReferralReward]:
        rewards = self._t.referral_rewards.values()
        return self._rewards(r for r in rewards if r.status == status and not r.notified)[:limit]

    async def set_notified(self, reward_id: int, notified: bool) -> bool:
        reward = self._t.referral_rewards.get(reward_id)
        if reward is None or reward.notified == notified:
            return False
        self._t.referral_rewards[reward_id] = replace(reward, notified=notified)
        return True

    async def unnotified_reversals(
        self, statuses: Iterable[str], limit: int
    ) -> list[tuple[FakeReferralReward, str]]:
        wanted = set(statuses)
        found = []
        for reward in self._rewards(self._t.referral_rewards.values()):
            referral = self._t.referrals.get(reward.referral_id)
            if reward.status in wanted and not reward.notified and referral is not None:
                found.append((reward, referral.status))
        return found[:limit]

    async def coupon_codes(self, reward_ids: Iterable[int]) -> dict[int, str]:
        found = {}
        for reward_id in reward_ids:
            reward = self._t.referral_rewards.get(reward_id)
            if reward is not None and reward.coupon_code is not None:
                found[reward_id] = reward.coupon_code
        return found

    # -- shortfalls
    async def shortfalls(self, *, unsent_only: bool, limit: int) -> Sequence[FakeShortfall]:
        found = [
            s for s in self._t.referral_shortfalls.values() if not unsent_only or not s.alert_sent
        ]
        return sorted(found, key=lambda s: s.id)[:limit]

    async def set_shortfall_sent(self, shortfall_id: int, sent: bool) -> bool:
        shortfall = self._t.referral_shortfalls.get(shortfall_id)
        if shortfall is None or shortfall.alert_sent == sent:
            return False
        self._t.referral_shortfalls[shortfall_id] = replace(shortfall, alert_sent=sent)
        return True
