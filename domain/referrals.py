"""Referral rules: invite codes, what a qualified friend earns both sides, and abuse screening.

Plain Python: the campaign file gives the rules (`ReferralRules`), the referral service applies
them inside its transactions.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.money import Money
from domain.orders import CHINA

START_PREFIX = "ref_"
NO_MONEY = Money(0)
CODE_BYTES = 12  # 16 url-safe characters: 96 random bits, not guessable
CODE_LENGTH = 16
_PAYLOAD = re.compile(rf"^{START_PREFIX}([A-Za-z0-9_-]{{{CODE_LENGTH}}})$")
MAX_START_PAYLOAD = 64  # Telegram's limit on a /start parameter


class RewardKind(StrEnum):
    POINTS = "points"
    RED_PACKET = "red_packet"  # money into the wallet
    COUPON = "coupon"  # a coupon code of the campaign


class Side(StrEnum):
    INVITER = "inviter"
    FRIEND = "friend"


class ReferralStatus(StrEnum):
    JOINED = "joined"  # the friend came through the link
    QUALIFIED = "qualified"  # first qualifying recharge: rewards claimable
    HELD = "held"  # qualified, but screening raised a staff alert: rewards wait for staff
    REVERSED = "reversed"  # the qualifying order was refunded
    REJECTED = "rejected"  # staff refused a held referral


class RewardStatus(StrEnum):
    PENDING = "pending"  # waiting for staff review
    CLAIMABLE = "claimable"
    CLAIMED = "claimed"
    EXPIRED = "expired"
    REVOKED = "revoked"  # taken back before it was claimed (refund, staff)
    CLAWED_BACK = "clawed_back"  # taken back after it was claimed (refund)


class AlertReason(StrEnum):
    SELF_REFERRAL = "self_referral"  # inviter and friend share a phone number
    PHONE_SHARED = "phone_shared"  # the friend's number is bound to another account
    CAP = "cap"  # the inviter reached the cap of rewards in this period
    BURST = "burst"  # too many qualifications of one inviter in a short time


@dataclass(frozen=True)
class RewardSpec:
    """What one side earns: points, a wallet red packet, or a coupon code."""

    kind: RewardKind
    points: int = 0
    amount: Money = NO_MONEY
    coupon_code: str | None = None

    def __post_init__(self) -> None:
        if self.kind is RewardKind.POINTS and self.points <= 0:
            raise ValueError("a points reward needs points")
        if self.kind is RewardKind.RED_PACKET and not self.amount.is_positive:
            raise ValueError("a red packet reward needs an amount")
        if self.kind is RewardKind.COUPON and not self.coupon_code:
            raise ValueError("a coupon reward needs a coupon code")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "points": self.points,
            "amount_fen": self.amount.fen,
            "coupon_code": self.coupon_code,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RewardSpec:
        return cls(
            RewardKind(data["kind"]),
            int(data.get("points", 0)),
            Money(int(data.get("amount_fen", 0))),
            data.get("coupon_code"),
        )


@dataclass(frozen=True)
class ReferralRules:
    minimum: Money  # the friend's first completed recharge of at least this qualifies
    inviter: RewardSpec
    friend: RewardSpec
    claim_window: timedelta
    cap_per_inviter: int  # rewards an inviter gets paid automatically per period
    cap_period_days: int
    burst_count: int  # this many qualifications of one inviter within burst_window: alert
    burst_window: timedelta

    def reward(self, side: Side) -> RewardSpec:
        return self.inviter if side is Side.INVITER else self.friend

    def to_json(self) -> dict[str, Any]:
        return {
            "minimum_fen": self.minimum.fen,
            "inviter": self.inviter.to_json(),
            "friend": self.friend.to_json(),
            "claim_seconds": int(self.claim_window.total_seconds()),
            "cap_per_inviter": self.cap_per_inviter,
            "cap_period_days": self.cap_period_days,
            "burst_count": self.burst_count,
            "burst_seconds": int(self.burst_window.total_seconds()),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferralRules:
        return cls(
            minimum=Money(int(data["minimum_fen"])),
            inviter=RewardSpec.from_json(data["inviter"]),
            friend=RewardSpec.from_json(data["friend"]),
            claim_window=timedelta(seconds=int(data["claim_seconds"])),
            cap_per_inviter=int(data["cap_per_inviter"]),
            cap_period_days=int(data["cap_period_days"]),
            burst_count=int(data["burst_count"]),
            burst_window=timedelta(seconds=int(data["burst_seconds"])),
        )

    def period_of(self, at: datetime) -> str:
        """The cap period `at` falls in: consecutive blocks of `cap_period_days` Beijing days."""
        day = at.astimezone(CHINA).date().toordinal()
        return f"{self.cap_period_days}d{day // self.cap_period_days}"


def new_invite_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def start_payload(code: str) -> str:
    """What follows `?start=` in the invite link."""
    payload = f"{START_PREFIX}{code}"
    assert len(payload) <= MAX_START_PAYLOAD
    return payload


def code_from_payload(payload: str) -> str | None:
    """The invite code of a /start parameter; None for anything forged or malformed."""
    found = _PAYLOAD.match(payload.strip())
    return found.group(1) if found else None


def screen(
    *,
    inviter_phones: Iterable[str],
    friend_phones: Iterable[str],
    phones_bound_elsewhere: bool,
    within_cap: bool,
    recent_qualifications: int,
    rules: ReferralRules,
) -> list[AlertReason]:
    """Why a qualification must wait for staff instead of paying out; empty when it may pay.

    `recent_qualifications` counts the inviter's qualifications within the burst window,
    this one included; `phones_bound_elsewhere` is whether a number of the friend is bound to
    an account other than the friend's and the inviter's.
    """
    reasons: list[AlertReason] = []
    if set(inviter_phones) & set(friend_phones):
        reasons.append(AlertReason.SELF_REFERRAL)
    if phones_bound_elsewhere:
        reasons.append(AlertReason.PHONE_SHARED)
    if not within_cap:
        reasons.append(AlertReason.CAP)
    if recent_qualifications >= rules.burst_count:
        reasons.append(AlertReason.BURST)
    return reasons


def masked_name(name: str | None) -> str:
    """张** / A***: the first character only, for leaderboards."""
    if not name:
        return "***"
    return name[0] + "*" * max(2, min(len(name) - 1, 4))
