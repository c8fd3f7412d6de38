"""Referral use cases: invite codes, attribution, qualification, claims, reversal, expiry.

Every change is one unit of work guarded by a unique constraint or a conditional update, so
replays, duplicates, concurrent sweeps and concurrent claims change nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.errors import RecordConflict
from domain.money import CNY, Money
from domain.orders import OrderStatus
from domain.referrals import (
    AlertReason,
    ReferralRules,
    ReferralStatus,
    RewardKind,
    RewardStatus,
    Side,
    code_from_payload,
    masked_name,
    new_invite_code,
    screen,
)
from domain.repositories.money import CampaignView
from domain.repositories.referrals import (
    Candidate,
    NewReferral,
    NewReferralReward,
    NewShortfall,
    ReferralRepository,
    ReferralRewardView,
    ReferralUnitOfWork,
    ReferralUnitOfWorkFactory,
    ReferralView,
)

log = logging.getLogger(__name__)

SWEEP_BATCH = 200
# The qualification sweep reads only recharges completed after the last it examined, less this
# much: a recharge stamped complete just before a sweep but committed just after it (or stamped
# by a process whose clock is a little behind) is still seen by the next sweep.
LATE_COMMIT_MARGIN = timedelta(minutes=10)
POINTS_KIND, CLAWBACK_KIND = "referral", "clawback"


@dataclass(frozen=True)
class Programme:
    """A live campaign's referral rules."""

    campaign_code: str
    name_zh: str
    name_en: str
    ends_at: datetime
    rules: ReferralRules

    def name(self, language_code: str) -> str:
        return self.name_en if language_code == "en" else self.name_zh


@dataclass(frozen=True)
class Reward:
    id: int
    customer_id: int
    referral_id: int
    side: Side
    kind: RewardKind
    points: int
    amount: Money
    coupon_code: str | None
    status: RewardStatus
    claim_by: datetime | None


@dataclass(frozen=True)
class InviteSummary:
    code: str
    friends_joined: int
    friends_qualified: int
    rewards: Counter[RewardStatus]
    claimable: list[Reward]
    programme: Programme | None


@dataclass(frozen=True)
class StaffAlert:
    referral_id: int
    inviter_id: int
    friend_id: int
    order_id: int | None
    reasons: tuple[AlertReason, ...]
    # Where the review stands: held until staff approve or reject (or a refund reverses it).
    status: ReferralStatus = ReferralStatus.HELD


@dataclass(frozen=True)
class Shortfall:
    """What a clawback could not take back: points or money already spent, or a coupon code
    that was handed out (a code cannot be taken back; `coupon_code` names it)."""

    id: int
    reward_id: int
    customer_id: int
    points: int
    amount: Money
    coupon_code: str | None = None


@dataclass(frozen=True)
class ReversedReward:
    """A reward taken away that its customer has not been told about yet: revoked or clawed
    back because the qualifying order was refunded, or revoked because staff rejected it."""

    reward: Reward
    rejected: bool


class ClaimRefused(Exception):
    """reason: "claimed" (already), "expired", "unavailable" (unknown, not theirs, pending)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reward(row: ReferralRewardView) -> Reward:
    return Reward(
        id=row.id,
        customer_id=row.customer_id,
        referral_id=row.referral_id,
        side=Side(row.side),
        kind=RewardKind(row.kind),
        points=row.points,
        amount=Money(row.amount_fen, CNY),
        coupon_code=row.coupon_code,
        status=RewardStatus(row.status),
        claim_by=row.claim_by,
    )


def _alert(row: ReferralView) -> StaffAlert:
    return StaffAlert(
        row.id,
        row.inviter_id,
        row.friend_id,
        row.order_id,
        tuple(AlertReason(r) for r in (row.alert or "").split(",") if r),
        ReferralStatus(row.status),
    )


def programme_of(row: CampaignView) -> Programme | None:
    data = (row.extra or {}).get("referral")
    if not isinstance(data, dict):
        return None
    return Programme(row.code, row.name_zh, row.name_en, row.ends_at, ReferralRules.from_json(data))


class SecondApprovalNeeded(Exception):
    """Two-person rule: a large reward waits for a second, different staff member (this
    approval, if it was the first, is recorded)."""


def _programme_among(campaigns: Iterable[CampaignView], at: datetime) -> Programme | None:
    """The referral rules in force at `at`: those of the live campaign of highest priority."""
    live = [
        row for row in campaigns if row.status == "active" and row.starts_at <= at < row.ends_at
    ]
    for row in sorted(live, key=lambda r: (-r.priority, r.code)):
        found = programme_of(row)
        if found is not None:
            return found
    return None


class ReferralService:
    def __init__(
        self, uow: ReferralUnitOfWorkFactory, clock: Clock = utc_now, two_person_fen: int = 0
    ) -> None:
        self._two_person_fen = two_person_fen
        self._uow = uow
        self._clock = clock
        # Where the qualification sweep goes on: (completed at, order id) of the recharges
        # examined already (None: from the first). Kept by the process; a new process (or a
        # new lease holder) examines everything once.
        self._examined_to: tuple[datetime, int] | None = None

    # -- programmes -----------------------------------------------------------------------------
    async def programme(self, at: datetime | None = None) -> Programme | None:
        """The referral rules in force at `at` (now): the live campaign of highest priority."""
        async with self._uow.read() as uow:
            return await self._programme(uow, at or self._clock())

    @staticmethod
    async def _programme(uow: ReferralUnitOfWork, at: datetime) -> Programme | None:
        return _programme_among(await uow.campaigns.all(), at)

    # -- the inviter ----------------------------------------------------------------------------
    async def invite_code(self, customer_id: int) -> str:
        """The customer's personal code, made on first use; the same one ever after."""
        async with self._uow.read() as uow:
            code = await uow.referrals.code_of(customer_id)
        if code is not None:
            return code
        for _ in range(3):
            try:
                async with self._uow() as uow:
                    repo = uow.referrals
                    await repo.add_code(customer_id, new_invite_code(), self._clock())
                    code = await repo.code_of(customer_id)
                    await uow.commit()
            except RecordConflict:  # a code collided with another customer's: draw again
                continue
            if code is not None:
                return code
        raise RuntimeError("no invite code could be made")

    async def summary(self, customer_id: int) -> InviteSummary:
        code = await self.invite_code(customer_id)
        now = self._clock()
        async with self._uow.read() as uow:
            repo = uow.referrals
            friends = await repo.of_inviter(customer_id)
            rewards = [_reward(row) for row in await repo.rewards_of(customer_id)]
            programme = await self._programme(uow, now)
        qualified = sum(
            friends.get(s, 0)
            for s in (ReferralStatus.QUALIFIED, ReferralStatus.HELD, ReferralStatus.REVERSED)
        )
        claimable = [
            r
            for r in rewards
            if r.status is RewardStatus.CLAIMABLE and r.claim_by is not None and r.claim_by > now
        ]
        counts = Counter(r.status for r in rewards)
        counts[RewardStatus.EXPIRED] += counts[RewardStatus.CLAIMABLE] - len(claimable)
        counts[RewardStatus.CLAIMABLE] = len(claimable)
        return InviteSummary(code, sum(friends.values()), qualified, counts, claimable, programme)

    async def unclaimed(self, customer_id: int) -> list[Reward]:
        """The customer's rewards not claimed yet that may still become theirs: under review, or
        claimable within their window (what erasing their data would take from them)."""
        now = self._clock()
        async with self._uow.read() as uow:
            rows = await uow.referrals.rewards_of(customer_id)
        rewards = [_reward(row) for row in rows]
        return [
            r
            for r in rewards
            if r.status is RewardStatus.PENDING
            or (r.status is RewardStatus.CLAIMABLE and (r.claim_by is None or r.claim_by > now))
        ]

    async def leaderboard(self, limit: int = 10) -> tuple[Programme, list[tuple[str, int]]] | None:
        """The live programme's top inviters by qualified friends, names masked."""
        async with self._uow.read() as uow:
            programme = await self._programme(uow, self._clock())
            if programme is None:
                return None
            leaders = await uow.referrals.leaders(
                programme.campaign_code, ReferralStatus.QUALIFIED, limit
            )
        return programme, [(masked_name(name), count) for name, count in leaders]

    # -- the friend -----------------------------------------------------------------------------
    async def attribute(self, friend_id: int, payload: str) -> bool:
        """Record that a customer new to the bot came through an invite link (first touch).

        A forged, malformed or unknown code, one's own code, or a customer who already has
        orders attributes nothing. True when the friend was attributed now.
        """
        code = code_from_payload(payload)
        if code is None:
            return False
        try:
            async with self._uow() as uow:
                repo = uow.referrals
                inviter_id = await repo.owner_of(code)
                if inviter_id is None or inviter_id == friend_id:
                    return False
                inviter = await uow.customers.get(inviter_id)
                if inviter is None or inviter.erased_at is not None:
                    return False
                if await repo.has_orders(friend_id):
                    return False
                repo.add_referral(
                    NewReferral(
                        inviter_id=inviter_id,
                        friend_id=friend_id,
                        status=ReferralStatus.JOINED,
                        joined_at=self._clock(),
                    )
                )
                await uow.commit()
        except RecordConflict:
            return False  # attributed already: the first touch stands
        return True

    async def inviter_of(self, friend_id: int) -> int | None:
        async with self._uow.read() as uow:
            return await uow.referrals.inviter_of(friend_id)

    # -- qualification (sweep) ------------------------------------------------------------------
    async def qualify_due(self) -> list[int]:
        """Referrals whose friend's first qualifying recharge completed: recorded once each,
        with both rewards claimable, or held for staff when screening says so. Each sweep
        reads the recharges completed since the last it examined (less `LATE_COMMIT_MARGIN`),
        in batches, so its cost follows the new recharges, not every friend's whole history."""
        now = self._clock()
        async with self._uow.read() as uow:
            campaigns = await uow.campaigns.all()
        done: list[int] = []
        seen: set[int] = set()
        programmes: dict[datetime, Programme | None] = {}
        while True:
            async with self._uow.read() as uow:
                candidates = await uow.referrals.qualifying_candidates(
                    ReferralStatus.JOINED, OrderStatus.COMPLETED, SWEEP_BATCH, self._examined_to
                )
            for (
                referral_id,
                inviter_id,
                friend_id,
                order_id,
                amount,
                completed,
                digits,
            ) in candidates:
                if referral_id in seen:
                    continue
                if completed not in programmes:
                    programmes[completed] = _programme_among(campaigns, completed)
                programme = programmes[completed]
                if programme is None or amount < programme.rules.minimum.fen:
                    continue
                seen.add(referral_id)
                if await self._qualify(
                    referral_id, inviter_id, friend_id, order_id, completed, digits, programme
                ):
                    done.append(referral_id)
            before, self._examined_to = self._examined_to, self._examined_next(candidates, now)
            if len(candidates) < SWEEP_BATCH or self._examined_to == before:
                return done

    def _examined_next(
        self, candidates: Sequence[Candidate], now: datetime
    ) -> tuple[datetime, int]:
        """Where the next sweep goes on: after the last recharge examined when the batch was
        full, else after everything; never nearer now than the margin, never backwards."""
        settled = (now - LATE_COMMIT_MARGIN, 0)
        position = settled
        if len(candidates) >= SWEEP_BATCH:
            last = candidates[-1]
            position = min((last[5], last[3]), settled)
        if self._examined_to is not None:
            position = max(position, self._examined_to)
        return position

    async def _qualify(
        self,
        referral_id: int,
        inviter_id: int,
        friend_id: int,
        order_id: int,
        completed_at: datetime,
        digits: str | None,
        programme: Programme,
    ) -> bool:
        rules = programme.rules
        now = self._clock()
        try:
            async with self._uow() as uow:
                repo = uow.referrals
                if not await repo.move(
                    referral_id,
                    [ReferralStatus.JOINED],
                    status=ReferralStatus.QUALIFIED,
                    order_id=order_id,
                    campaign_code=programme.campaign_code,
                    qualified_at=completed_at,
                ):
                    return False  # another sweep recorded it first
                friend_phones = await repo.phones_of(friend_id) | ({digits} if digits else set())
                reasons = screen(
                    inviter_phones=await repo.phones_of(inviter_id),
                    friend_phones=friend_phones,
                    phones_bound_elsewhere=await repo.bound_by_others(
                        friend_phones, [friend_id, inviter_id]
                    ),
                    within_cap=await repo.take_cap(
                        inviter_id, rules.period_of(completed_at), rules.cap_per_inviter
                    ),
                    # Counted after the cap row is locked: concurrent sweeps see each other.
                    recent_qualifications=await repo.qualified_since(
                        inviter_id, completed_at - rules.burst_window
                    ),
                    rules=rules,
                )
                if reasons:
                    await repo.move(
                        referral_id,
                        [ReferralStatus.QUALIFIED],
                        status=ReferralStatus.HELD,
                        alert=",".join(reasons),
                    )
                status = RewardStatus.PENDING if reasons else RewardStatus.CLAIMABLE
                claim_by = None if reasons else now + rules.claim_window
                for side, customer_id in ((Side.INVITER, inviter_id), (Side.FRIEND, friend_id)):
                    spec = rules.reward(side)
                    repo.add_reward(
                        NewReferralReward(
                            referral_id=referral_id,
                            customer_id=customer_id,
                            side=side,
                            kind=spec.kind,
                            points=spec.points,
                            amount_fen=spec.amount.fen,
                            coupon_code=spec.coupon_code,
                            status=status,
                            created_at=now,
                            claim_by=claim_by,
                        )
                    )
                await uow.commit()
        except RecordConflict:
            return False  # the order qualified another referral, or rewards exist already
        if reasons:
            log.warning("referral %s held for staff: %s", referral_id, ",".join(reasons))
        return True

    # -- staff review ---------------------------------------------------------------------------
    async def approve(self, referral_id: int, by: int = 0, by_name: str = "") -> bool:
        """Staff (`by`, a Telegram id) let a held referral pay out: its rewards become
        claimable (once); recorded in the audit trail in the same transaction."""
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.referrals
            row = await repo.get(referral_id)
            if row is None or row.campaign_code is None:
                return False
            campaign = await uow.campaigns.by_code(row.campaign_code)
            programme = programme_of(campaign) if campaign is not None else None
            if programme is None:
                return False
            rewards = await repo.rewards_of_referral(referral_id)
            large = 0 < self._two_person_fen <= sum(r.amount_fen for r in rewards)
            if large and row.status == ReferralStatus.HELD.value:
                if row.first_approver is None:
                    if await repo.approve_first(referral_id, by):
                        entry = AuditEntry(
                            AuditAction.FIRST_APPROVAL,
                            ActorKind.STAFF,
                            by,
                            f"referral:{referral_id}",
                            "approve",
                            by_name,
                        )
                        await uow.audit.append(entry, now)
                        await uow.commit()
                    raise SecondApprovalNeeded(referral_id)
                if row.first_approver == by:
                    raise SecondApprovalNeeded(referral_id)
            if not await repo.move(
                referral_id, [ReferralStatus.HELD], status=ReferralStatus.QUALIFIED
            ):
                return False
            for reward in rewards:
                await repo.move_reward(
                    reward.id,
                    [RewardStatus.PENDING],
                    RewardStatus.CLAIMABLE,
                    claim_by=now + programme.rules.claim_window,
                )
            await _audit_review(uow, AuditAction.REFERRAL_APPROVED, referral_id, by, by_name, now)
            await uow.commit()
        return True

    async def reject(self, referral_id: int, by: int = 0, by_name: str = "") -> bool:
        """Staff refuse a held referral: its rewards are revoked (recorded in the audit
        trail in the same transaction)."""
        async with self._uow() as uow:
            repo = uow.referrals
            if not await repo.move(
                referral_id, [ReferralStatus.HELD], status=ReferralStatus.REJECTED
            ):
                return False
            for reward in await repo.rewards_of_referral(referral_id):
                await repo.move_reward(
                    reward.id, [RewardStatus.PENDING], RewardStatus.REVOKED, notified=False
                )
            await _audit_review(
                uow, AuditAction.REFERRAL_REJECTED, referral_id, by, by_name, self._clock()
            )
            await uow.commit()
        return True

    async def review(self, referral_id: int) -> StaffAlert | None:
        """A referral as staff review it: who, which order, why it was held, where it stands."""
        async with self._uow.read() as uow:
            row = await uow.referrals.get(referral_id)
        return None if row is None or row.alert is None else _alert(row)

    async def held(self, limit: int = 20) -> list[StaffAlert]:
        """Referrals waiting for staff, oldest first."""
        async with self._uow.read() as uow:
            rows = await uow.referrals.with_status(ReferralStatus.HELD, limit)
        return [_alert(row) for row in rows]

    # -- claiming -------------------------------------------------------------------------------
    async def claim(self, customer_id: int, reward_id: int) -> Reward:
        """One tap: the reward becomes claimed and is credited in the same transaction.

        However many taps arrive at once, one claim succeeds; the others are refused.
        """
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.referrals
            row = await repo.move_reward(
                reward_id,
                [RewardStatus.CLAIMABLE],
                RewardStatus.CLAIMED,
                customer_id=customer_id,
                claimable_after=now,
                claimed_at=now,
            )
            if row is None:
                current = await repo.reward(reward_id)
                if current is None or current.customer_id != customer_id:
                    raise ClaimRefused("unavailable")
                if current.status == RewardStatus.CLAIMED:
                    raise ClaimRefused("claimed")
                if current.status in (RewardStatus.EXPIRED, RewardStatus.CLAIMABLE):
                    raise ClaimRefused("expired")
                raise ClaimRefused("unavailable")
            key = f"referral:{row.id}"
            if row.kind == RewardKind.POINTS:
                await uow.points.post(customer_id, row.points, POINTS_KIND, key, now, note=key)
            elif row.kind == RewardKind.RED_PACKET:
                await uow.wallets.post(customer_id, row.amount_fen, CNY, POINTS_KIND, key, now)
            reward = _reward(row)
            await uow.commit()
        return reward

    # -- refunds (sweep) ------------------------------------------------------------------------
    async def reverse_refunded(self) -> list[int]:
        """Referrals whose qualifying order was refunded: rewards not yet claimed are revoked,
        claimed ones clawed back from points or wallet down to zero, the rest recorded."""
        async with self._uow.read() as uow:
            due = await uow.referrals.refunded(
                [ReferralStatus.QUALIFIED, ReferralStatus.HELD], OrderStatus.REFUNDED, SWEEP_BATCH
            )
        return [referral_id for referral_id in due if await self._reverse(referral_id)]

    async def _reverse(self, referral_id: int) -> bool:
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.referrals
            if not await repo.move(
                referral_id,
                [ReferralStatus.QUALIFIED, ReferralStatus.HELD],
                status=ReferralStatus.REVERSED,
                reversed_at=now,
            ):
                return False
            for reward in await repo.rewards_of_referral(referral_id):
                # The customer is told (`notified` set back to False) of a reward taken away,
                # not of one that had expired anyway.
                revoked = await repo.move_reward(
                    reward.id,
                    [RewardStatus.PENDING, RewardStatus.CLAIMABLE],
                    RewardStatus.REVOKED,
                    notified=False,
                )
                if revoked is None:
                    revoked = await repo.move_reward(
                        reward.id, [RewardStatus.EXPIRED], RewardStatus.REVOKED, notified=True
                    )
                if revoked is not None:
                    continue
                clawed = await repo.move_reward(
                    reward.id, [RewardStatus.CLAIMED], RewardStatus.CLAWED_BACK, notified=False
                )
                if clawed is not None:
                    await self._claw_back(uow, repo, clawed, now)
            await uow.commit()
        return True

    @staticmethod
    async def _claw_back(
        uow: ReferralUnitOfWork,
        repo: ReferralRepository,
        reward: ReferralRewardView,
        now: datetime,
    ) -> None:
        """Take a claimed reward back. Points and wallet money come back as far as the balance
        goes; a coupon code once shown cannot be taken back at all: what could not be taken is
        recorded as a shortfall for staff (a coupon's with no points and no money)."""
        key = f"referral-clawback:{reward.id}"
        short_points = short_fen = 0
        if reward.kind == RewardKind.POINTS:
            for _ in range(3):  # the balance may move under us: take what is there
                take = min(reward.points, await uow.points.balance(reward.customer_id))
                if take == 0 or await uow.points.post(
                    reward.customer_id, -take, CLAWBACK_KIND, key, now, note=key
                ):
                    break
            short_points = reward.points - take
        elif reward.kind == RewardKind.RED_PACKET:
            for _ in range(3):
                take = min(reward.amount_fen, await uow.wallets.balance(reward.customer_id))
                if take == 0 or await uow.wallets.post(
                    reward.customer_id, -take, CNY, CLAWBACK_KIND, key, now
                ):
                    break
            short_fen = reward.amount_fen - take
        if short_points or short_fen or reward.kind == RewardKind.COUPON:
            repo.add_shortfall(
                NewShortfall(
                    reward_id=reward.id,
                    customer_id=reward.customer_id,
                    points=short_points,
                    amount_fen=short_fen,
                    at=now,
                )
            )
            log.warning(
                "reward %s clawed back short by %d points, %d fen, coupon %s",
                reward.id,
                short_points,
                short_fen,
                reward.coupon_code if reward.kind == RewardKind.COUPON else "-",
            )

    # -- expiry and notices (sweep) -------------------------------------------------------------
    async def expire_due(self) -> int:
        async with self._uow() as uow:
            count = await uow.referrals.expire(
                RewardStatus.CLAIMABLE, RewardStatus.EXPIRED, self._clock()
            )
            await uow.commit()
        return count

    async def unnotified_rewards(self) -> list[Reward]:
        async with self._uow.read() as uow:
            rows = await uow.referrals.unnotified(RewardStatus.CLAIMABLE, SWEEP_BATCH)
        return [_reward(row) for row in rows]

    async def mark_notified(self, reward_id: int, notified: bool = True) -> bool:
        """Claim (True) a reward's notice before sending it, or release it (False) to retry."""
        async with self._uow() as uow:
            changed = await uow.referrals.set_notified(reward_id, notified)
            await uow.commit()
        return changed

    async def unsent_alerts(self) -> list[StaffAlert]:
        async with self._uow.read() as uow:
            rows = await uow.referrals.unsent_alerts(SWEEP_BATCH)
        return [_alert(row) for row in rows]

    async def mark_alert_sent(self, referral_id: int, sent: bool = True) -> bool:
        async with self._uow() as uow:
            changed = await uow.referrals.set_alert_sent(referral_id, sent)
            await uow.commit()
        return changed

    async def shortfalls(self, *, unsent_only: bool = False) -> list[Shortfall]:
        async with self._uow.read() as uow:
            repo = uow.referrals
            rows = await repo.shortfalls(unsent_only=unsent_only, limit=SWEEP_BATCH)
            coupons = await repo.coupon_codes([r.reward_id for r in rows])
        return [
            Shortfall(
                r.id,
                r.reward_id,
                r.customer_id,
                r.points,
                Money(r.amount_fen, CNY),
                coupons.get(r.reward_id),
            )
            for r in rows
        ]

    async def mark_shortfall_sent(self, shortfall_id: int, sent: bool = True) -> bool:
        async with self._uow() as uow:
            changed = await uow.referrals.set_shortfall_sent(shortfall_id, sent)
            await uow.commit()
        return changed

    async def unnotified_reversals(self) -> list[ReversedReward]:
        """Rewards taken away (refund or staff rejection) whose customer was not told yet."""
        async with self._uow.read() as uow:
            rows = await uow.referrals.unnotified_reversals(
                [RewardStatus.REVOKED, RewardStatus.CLAWED_BACK], SWEEP_BATCH
            )
        return [
            ReversedReward(_reward(row), status == ReferralStatus.REJECTED) for row, status in rows
        ]


async def _audit_review(
    uow: ReferralUnitOfWork,
    action: AuditAction,
    referral_id: int,
    by: int,
    by_name: str,
    at: datetime,
) -> None:
    kind = ActorKind.STAFF if by else ActorKind.SYSTEM
    entry = AuditEntry(action, kind, by, f"referral:{referral_id}", "", by_name)
    await uow.audit.append(entry, at)
