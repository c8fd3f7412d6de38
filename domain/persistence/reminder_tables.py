"""Tables of countdown reminders: subscriptions, the outbox of reminders, unreachable customers,
and the lease that lets exactly one process run the scheduler."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime


class ReminderSubscriptionRow(Base):
    """A customer asked for a campaign's reminders: one offer's (its code) or all ("*")."""

    __tablename__ = "reminder_subscriptions"
    __table_args__ = (UniqueConstraint("customer_id", "campaign_id", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    scope: Mapped[str] = mapped_column(String(48))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The customer's time zone, for quiet hours.
    timezone: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReminderOutboxRow(Base):
    """One reminder to one customer, sent at most once: planned -> sending -> sent, or skipped
    (with the reason) or failed (dead-lettered, with the reason)."""

    __tablename__ = "reminder_outbox"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "reminder_key"),
        Index("ix_reminder_outbox_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    reminder_key: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # After this the reminder says nothing useful any more (the next one is due, or the end).
    stale_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(12))
    # While `sending`: the claim holds until then; a sender killed midway lets it lapse.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The customer's first press of a button of this reminder.
    pressed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class UnreachableCustomerRow(Base):
    """A customer who blocked the bot (Telegram answered 403): no more reminders."""

    __tablename__ = "unreachable_customers"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(UtcDateTime())


class SchedulerLeaseRow(Base):
    """Who runs the scheduler's sweeps until `expires_at`; taken and renewed conditionally."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(96))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
