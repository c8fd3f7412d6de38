"""Support tables: tickets, their messages (also the outbox to the staff chat and customers, and
the map from sent messages back to tickets), suggestions, order ratings, staff roles, flood
counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # The customer's private chat, where staff answers are relayed.
    chat_id: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(24), index=True)
    priority: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    # The staff member who took it (a Telegram id; never shown to the customer).
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    # The forum topic of the staff chat that belongs to this ticket (forum staff chats only).
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The wait for that first response in whole seconds, so its average is one aggregate.
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Since when the customer waits for staff (None: staff spoke last); the SLA clock.
    waiting_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    # When the wait was raised to supervisors (once per wait).
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    csat: Mapped[int | None] = mapped_column(Integer)
    csat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TicketMessageRow(Base):
    """One message of a ticket, kept as the transcript and delivered once through the outbox.

    `destination` says where it goes ("staff": the staff chat, "customer": the ticket's chat,
    "private": `to_chat_id`); the sweep claims it, sends it and records the message it became
    (`sent_chat_id`, `sent_message_id`): staff replies to that message find the ticket here.
    A message that came in (a staff reply, a customer message) is unique by its source.
    """

    __tablename__ = "ticket_messages"
    __table_args__ = (
        UniqueConstraint("source_chat_id", "source_message_id"),
        Index("ix_ticket_messages_sent", "sent_chat_id", "sent_message_id", unique=True),
        Index("ix_ticket_messages_pending", "delivered", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    # card, customer, staff, resolved, reopened, closed, escalation, refund, note
    kind: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    source_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    source_message_id: Mapped[int | None] = mapped_column(BigInteger)
    destination: Mapped[str] = mapped_column(String(10))
    to_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Outbox: claimed by a sweep while it sends; delivered once sent or given up.
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)


class SuggestionRow(Base):
    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class OrderRatingRow(Base):
    """The customer's 1–5 rating of one completed recharge, with an optional comment."""

    __tablename__ = "order_ratings"
    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class StaffRoleRow(Base):
    """A staff role granted to a Telegram user: agent or supervisor."""

    __tablename__ = "staff_roles"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SupportQuotaRow(Base):
    """How many support messages a customer sent in one window: a counter moved conditionally,
    so flooding is limited without read-then-write checks."""

    __tablename__ = "support_quota"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
