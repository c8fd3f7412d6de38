"""Tables of the referral programme: invite codes, referrals, their rewards, caps, shortfalls."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime


class InviteCodeRow(Base):
    """A customer's personal, unguessable invite code (one per customer)."""

    __tablename__ = "invite_codes"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReferralRow(Base):
    """A friend who came through an inviter's link (first touch: one per friend)."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    friend_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The friend's qualifying recharge: one referral per order, whatever the replays.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    campaign_code: Mapped[str | None] = mapped_column(String(48), index=True)
    qualified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Why staff must look at it (comma-separated reasons), and whether they were told.
    alert: Mapped[str | None] = mapped_column(String(96))
    alert_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    # Two-person rule: the first staff member who approved a large reward (a second one pays).
    first_approver: Mapped[int | None] = mapped_column(BigInteger)


class ReferralRewardRow(Base):
    """One side's reward for one qualified friend: claimable once, within a window."""

    __tablename__ = "referral_rewards"
    __table_args__ = (UniqueConstraint("referral_id", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    side: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer, default=0)
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claim_by: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Has the customer been told of its status: claimable, or taken away (revoked, clawed back)?
    # (claimed before sending, released on failure; set back to False when it is taken away)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)


class ReferralCapRow(Base):
    """Rewards paid to one inviter in one period; never above the campaign's cap."""

    __tablename__ = "referral_caps"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    inviter_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


class ReferralShortfallRow(Base):
    """A clawback that could not take everything back (already spent): for staff to follow."""

    __tablename__ = "referral_shortfalls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("referral_rewards.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    alert_sent: Mapped[bool] = mapped_column(Boolean, default=False)
