"""Tables of the risk rules: the cases staff decide (a held order, a frozen account)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime


class RiskCaseRow(Base):
    """A rule that fired for a customer (with the order it held, if any), and the decision."""

    __tablename__ = "risk_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The staff member who decided (Telegram id and name as shown) and when.
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_by_name: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Two-person rule: the first of two staff members who approved a large release.
    first_approver: Mapped[int | None] = mapped_column(BigInteger)
    first_approver_name: Mapped[str | None] = mapped_column(String(128))
    # Staff alerted in the staff chat; the customer told of the decision (claimed, then kept).
    alert_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_told: Mapped[bool] = mapped_column(Boolean, default=True)


class NumberAllowanceRow(Base):
    """How much of one risk count a phone number has used (the number kept as a digest, see
    `domain.risk.number_key`): the distinct accounts that recharged it in a day. Taken only by
    a conditional update that stays within the limit."""

    __tablename__ = "number_allowances"

    number_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
