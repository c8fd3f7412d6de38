"""Tables of campaign pushes: broadcasts, their outbox (one row per broadcast and recipient),
customers who turned pushes off, and what staff did to each broadcast."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime


class BroadcastRow(Base):
    """A push to an audience: its texts, buttons, audience, when it goes and how far planning
    got (customers up to `planned_through` are in the outbox; `planned` once all are)."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    # Button targets ("offers", "recharge", "survey"), in order.
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The segments chosen (see domain/broadcasts.py); {} is everyone reachable.
    audience: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # What the push is about: never sent once taken by the customer, sold out or over.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    send_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # A/B variants: [{"zh": ..., "en": ..., "share": 50}, ...]; None: one text (the above).
    variants: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    planned_through: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[bool] = mapped_column(Boolean, default=False)
    # A picture sent with the text as its caption (Telegram's file id); None: text only.
    photo: Mapped[str | None] = mapped_column(String(256))
    # The buttons are deep links (t.me/<bot>?start=...) rather than typed button data.
    links: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Marked urgent by staff: sent as a paid broadcast (allow_paid_broadcast, at the higher
    # rate, each message beyond the free ones paid in Telegram Stars) when the settings allow.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "YYYY-MM-DD HH:MM": sent at this local time in each customer's own time zone (each
    # outbox row then has its own `send_at`); None: sent from `send_at` to everyone.
    local_time: Mapped[str | None] = mapped_column(String(16))


class BroadcastOutboxRow(Base):
    """One push to one customer, sent at most once: planned -> sending -> sent, or skipped
    (with the reason) or failed (dead-lettered, with the reason)."""

    __tablename__ = "broadcast_outbox"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "customer_id"),
        Index("ix_broadcast_outbox_broadcast_status", "broadcast_id", "status", "id"),
        Index("ix_broadcast_outbox_customer_status", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    variant: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12))
    # While `sending`: the claim holds until then; a sender killed midway lets it lapse.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The frequency-cap allowance this push took (taken once, given back if it never arrived).
    cap_scope: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    pressed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Not sent before this moment (the broadcast's local time in the customer's time zone,
    # outside their quiet hours); None: as soon as the broadcast is being sent.
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PushOptOutRow(Base):
    """A customer who turned campaign pushes off."""

    __tablename__ = "push_opt_outs"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(UtcDateTime())


class BroadcastActionRow(Base):
    """Who did what to a broadcast, and when (create, send, pause, resume, cancel, delete)."""

    __tablename__ = "broadcast_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    staff_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class SurveyAnswerRow(Base):
    """A customer's answer to a post-campaign survey push: a rating 1-5 (once) and an optional
    comment, about the broadcast's campaign."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("broadcast_id", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
