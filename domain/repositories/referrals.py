"""What the referral service asks of the unit of work (`ReferralUnitOfWork`): invite codes,
referrals, their rewards, inviters' caps and clawback shortfalls; beside the campaigns whose
rules apply, and the points and wallets rewards are paid into.

Rows come back as read-only views (`ReferralView`, `ReferralRewardView`, `ShortfallView`) and
go in as typed records (`NewReferral`, …): a service never sees an ORM row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.repositories import UnitOfWork
from domain.repositories.money import PointsRepository
from domain.repositories.reminders import CampaignDirectory

# A friend's completed recharge that may qualify their referral: (referral, inviter, friend,
# order, amount in fen, completed at, the number topped up).
Candidate = tuple[int, int, int, int, int, datetime, str | None]


class ReferralView(Protocol):
    """A friend who came through an inviter's link (first touch: one per friend)."""

    @property
    def id(self) -> int: ...
    @property
    def inviter_id(self) -> int: ...
    @property
    def friend_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def joined_at(self) -> datetime: ...
    @property
    def order_id(self) -> int | None: ...  # the qualifying recharge
    @property
    def campaign_code(self) -> str | None: ...
    @property
    def qualified_at(self) -> datetime | None: ...
    @property
    def reversed_at(self) -> datetime | None: ...
    @property
    def alert(self) -> str | None: ...  # why staff must look at it (comma-separated)
    @property
    def alert_sent(self) -> bool: ...
    @property
    def first_approver(self) -> int | None: ...  # of a large reward, by the two-person rule


class ReferralRewardView(Protocol):
    """One side's reward for one qualified friend: claimable once, within a window."""

    @property
    def id(self) -> int: ...
    @property
    def referral_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def points(self) -> int: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def coupon_code(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def claim_by(self) -> datetime | None: ...
    @property
    def claimed_at(self) -> datetime | None: ...
    @property
    def notified(self) -> bool: ...


class ShortfallView(Protocol):
    """A clawback that could not take everything back: for staff to follow."""

    @property
    def id(self) -> int: ...
    @property
    def reward_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def points(self) -> int: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def alert_sent(self) -> bool: ...


@dataclass(frozen=True)
class NewReferral:
    """A friend's first touch; a second referral of the same friend is a `RecordConflict`."""

    inviter_id: int
    friend_id: int
    status: str
    joined_at: datetime


@dataclass(frozen=True)
class NewReferralReward:
    """One side's reward; a second of the same referral and side is a `RecordConflict`."""

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


@dataclass(frozen=True)
class NewShortfall:
    """What a clawback of the reward could not take back (once per reward)."""

    reward_id: int
    customer_id: int
    points: int
    amount_fen: int
    at: datetime


class ReferralRepository(Protocol):
    """Every change is one conditional write, or an insert that a unique key makes
    idempotent (a conflict is a `RecordConflict`, at the latest on commit)."""

    # -- invite codes
    async def code_of(self, customer_id: int) -> str | None: ...

    async def add_code(self, customer_id: int, code: str, at: datetime) -> None:
        """Give the customer this code unless they have one already; a code another customer
        has is a `RecordConflict`."""

    async def owner_of(self, code: str) -> int | None: ...

    # -- referrals
    def add_referral(self, referral: NewReferral) -> None: ...

    def add_reward(self, reward: NewReferralReward) -> None: ...

    def add_shortfall(self, shortfall: NewShortfall) -> None: ...

    async def get(self, referral_id: int) -> ReferralView | None:
        """The referral as it is now (read again, not as read before in this unit of work)."""

    async def inviter_of(self, friend_id: int) -> int | None: ...

    async def has_orders(self, customer_id: int) -> bool: ...

    async def qualifying_candidates(
        self,
        status: str,
        order_status: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
    ) -> Sequence[Candidate]:
        """Friends' completed recharges since they joined, for referrals still at `status`,
        oldest first; only recharges after `after` (completed at, order id) when given."""

    async def move(self, referral_id: int, from_statuses: Iterable[str], **values: object) -> bool:
        """Set `values` (fields of `ReferralView`) only if the referral is at one of
        `from_statuses` now (one conditional write)."""

    async def approve_first(self, referral_id: int, by: int) -> bool:
        """The first of two approvals, once: a held referral nobody approved yet."""

    async def phones_of(self, customer_id: int) -> set[str]: ...

    async def bound_by_others(self, digits: Iterable[str], customers: Iterable[int]) -> bool:
        """Whether any of the numbers is bound by a customer other than `customers`."""

    async def take_cap(self, inviter_id: int, period: str, cap: int) -> bool:
        """One slot of the inviter's cap in this period; False when it is used up (one
        conditional write: concurrent takes never pass the cap)."""

    async def qualified_since(self, inviter_id: int, since: datetime) -> int: ...

    async def refunded(
        self, statuses: Iterable[str], order_status: str, limit: int
    ) -> Sequence[int]:
        """Referrals at one of `statuses` whose qualifying order is at `order_status`."""

    async def of_inviter(self, inviter_id: int) -> Mapping[str, int]:
        """The inviter's referrals counted by status."""

    async def leaders(
        self, campaign_code: str, status: str, limit: int
    ) -> Sequence[tuple[str, int]]:
        """(first name, referrals) of the campaign's inviters with most referrals at `status`."""

    async def unsent_alerts(self, limit: int) -> Sequence[ReferralView]: ...

    async def set_alert_sent(self, referral_id: int, sent: bool) -> bool: ...

    async def with_status(self, status: str, limit: int) -> Sequence[ReferralView]: ...

    # -- rewards
    async def rewards_of_referral(self, referral_id: int) -> Sequence[ReferralRewardView]: ...

    async def rewards_of(self, customer_id: int) -> Sequence[ReferralRewardView]: ...

    async def reward(self, reward_id: int) -> ReferralRewardView | None:
        """The reward as it is now."""

    async def move_reward(
        self,
        reward_id: int,
        from_statuses: Iterable[str],
        to_status: str,
        *,
        customer_id: int | None = None,
        claimable_after: datetime | None = None,
        **values: object,
    ) -> ReferralRewardView | None:
        """Move the reward (setting `values`, fields of `ReferralRewardView`) only if it is at
        one of `from_statuses` (and the customer's, and still within its window when
        `claimable_after` is given): one conditional write; the reward moved, or None."""

    async def expire(self, status: str, to_status: str, now: datetime) -> int: ...

    async def unnotified(self, status: str, limit: int) -> Sequence[ReferralRewardView]: ...

    async def set_notified(self, reward_id: int, notified: bool) -> bool: ...

    async def unnotified_reversals(
        self, statuses: Iterable[str], limit: int
    ) -> Sequence[tuple[ReferralRewardView, str]]:
        """Rewards at one of `statuses` not told yet, with their referral's status."""

    async def coupon_codes(self, reward_ids: Iterable[int]) -> Mapping[int, str]:
        """The coupon code of each of these rewards that has one."""

    # -- shortfalls
    async def shortfalls(self, *, unsent_only: bool, limit: int) -> Sequence[ShortfallView]: ...

    async def set_shortfall_sent(self, shortfall_id: int, sent: bool) -> bool: ...


class ReferralUnitOfWork(UnitOfWork, Protocol):
    async def __aenter__(self) -> ReferralUnitOfWork: ...

    @property
    def referrals(self) -> ReferralRepository: ...

    @property
    def campaigns(self) -> CampaignDirectory: ...

    @property
    def points(self) -> PointsRepository: ...


class ReferralUnitOfWorkFactory(Protocol):
    def __call__(self) -> ReferralUnitOfWork: ...

    def read(self) -> ReferralUnitOfWork: ...
