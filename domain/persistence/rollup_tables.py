"""Roll-ups the dashboard reads instead of scanning orders: written in the same transaction as
the order that completes (`domain/persistence/rollups.py`), back-filled by migration 0026.

Campaign 0 stands for every completed recharge; a campaign's own rows count the recharges that
took one of its offers. Hours are UTC hours (the dashboard's periods start and end on whole
hours)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime

# The campaign id of the roll-ups of every recharge, whichever offers it took.
EVERY_RECHARGE = 0


class RechargeHourRow(Base):
    """Completed recharges (count and fen) of one campaign in one hour."""

    __tablename__ = "recharge_hours"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    recharges: Mapped[int] = mapped_column(Integer)
    fen: Mapped[int] = mapped_column(BigInteger)


class RechargeCustomerHourRow(Base):
    """Completed recharges (count and fen) of one customer in one campaign and hour: what the
    per-customer figures (paying and repeat customers, hold-out groups) add up."""

    __tablename__ = "recharge_customer_hours"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recharges: Mapped[int] = mapped_column(Integer)
    fen: Mapped[int] = mapped_column(BigInteger)


class OffersSeenRow(Base):
    """The first time a customer saw a campaign's offers (the offers screen showing it): one
    row a customer and campaign, the funnel's "saw offers" step."""

    __tablename__ = "offers_seen"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
