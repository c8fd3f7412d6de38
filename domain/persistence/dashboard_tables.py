"""Dashboard sign-in: single-use links and the sessions they open, kept only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, CustomerRow, OrderRow, PhoneBindingRow, UtcDateTime


class DashboardTokenRow(Base):
    """A sign-in link ("link") or a browser session ("session") of one staff member.

    Only the SHA-256 of the token is stored: whoever reads the database cannot sign in with it.
    A link is used once (`used_at` set by a conditional update) and a session ends at
    `expires_at` or when signed out.
    """

    __tablename__ = "dashboard_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_dashboard_tokens_expires_at", "expires_at"),)


class StaffDigestRow(Base):
    """The staff chat's digest of one local day (`day`, "YYYY-MM-DD"): sent once, however many
    processes and restarts. A sender claims it until `claimed_until` (a sender that stopped
    midway is followed by the next once that passes) and records it `sent_at` once Telegram
    accepted it."""

    __tablename__ = "staff_digests"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    message_id: Mapped[int | None] = mapped_column(BigInteger)


# The dashboard's figures read completed recharges by the time they completed, and customers by
# when they came: indexes for those reads (the recharge one holds what the sums need).
_ORDERS = OrderRow.__table__.c
_COMPLETED_RECHARGE = text("status = 'completed' AND purpose = 'recharge'")
Index(
    "ix_orders_completed_recharges",
    _ORDERS.completed_at,
    _ORDERS.customer_id,
    _ORDERS.amount_fen,
    postgresql_where=_COMPLETED_RECHARGE,
    sqlite_where=_COMPLETED_RECHARGE,
)
Index("ix_customers_last_seen_at", CustomerRow.__table__.c.last_seen_at)
Index("ix_customers_registered_at", CustomerRow.__table__.c.registered_at)
# "Bound a number" counts each customer once, by its first binding: the bindings of a period,
# each checked against the customer's earlier ones.
_BINDINGS = PhoneBindingRow.__table__.c
Index("ix_phone_bindings_bound_at", _BINDINGS.bound_at)
Index(
    "ix_phone_bindings_customer_bound_at", _BINDINGS.customer_id, _BINDINGS.bound_at, _BINDINGS.id
)
