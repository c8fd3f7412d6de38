"""Roll-ups the dashboard reads instead of scanning orders. An order's changes that count
(made, paid, completed) are noted by the database in `rollup_changes`, in the statement that
writes them (migration 0038's triggers); `domain/persistence/rollup_fold.py` folds the noted
changes into the roll-ups in batches, a few seconds later; `domain/persistence/rollups.py`
rebuilds them from the orders (the migrations' back-fills).

Campaign 0 stands for every completed recharge; a campaign's own rows count the recharges that
took one of its offers. Hours are UTC hours (the dashboard's periods start and end on whole
hours)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, SmallInteger, String, false
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime

# The campaign id of the roll-ups of every recharge, whichever offers it took.
EVERY_RECHARGE = 0


class RechargeHourRow(Base):
    """Completed recharges (count and fen) of one campaign in one hour, in shards that the
    dashboard adds up. Revision 0037 split an hour in shards by customer, for completions that
    each wrote their hour in their own transaction; folds take turns, so they add to shard 0
    (older rows may be in others)."""

    __tablename__ = "recharge_hours"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, server_default="0")
    recharges: Mapped[int] = mapped_column(Integer)
    fen: Mapped[int] = mapped_column(BigInteger)


class RechargeCustomerHourRow(Base):
    """Completed recharges (count and fen) of one customer in one campaign and hour: what the
    per-customer figures (the hold-out groups) add up.

    Each row also names the hours of the customer's rows before and after it in the campaign
    (`previous_hour`, `next_hour`; none at either end), so that distinct customers are counted
    without grouping rows by customer: a customer has recharges in a period exactly when one
    of its rows in the period has no previous hour in it (its first row there), and exactly one
    recharge when that row holds one and has no next hour in the period."""

    __tablename__ = "recharge_customer_hours"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recharges: Mapped[int] = mapped_column(Integer)
    fen: Mapped[int] = mapped_column(BigInteger)
    previous_hour: Mapped[datetime | None] = mapped_column(UtcDateTime())
    next_hour: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        # A period's rows with what its customer counts read (PostgreSQL answers from the
        # index alone).
        Index(
            "ix_recharge_customer_hours_period",
            "campaign_id",
            "hour",
            postgresql_include=["previous_hour", "next_hour", "recharges"],
        ),
        # A customer's rows in hour order: the neighbours a new row is linked between, and
        # a customer's fen over a few hours or days (PostgreSQL answers from the index alone).
        Index(
            "ix_recharge_customer_hours_customer",
            "campaign_id",
            "customer_id",
            "hour",
            postgresql_include=["fen"],
        ),
    )


class RechargeCustomerRow(Base):
    """Completed recharges (count and fen) of one customer in one campaign, all told. A
    completing recharge adds to it before it links its hour's row between the customer's
    others: the row's lock makes concurrent completions of one customer link one after the
    other."""

    __tablename__ = "recharge_customers"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recharges: Mapped[int] = mapped_column(Integer)
    fen: Mapped[int] = mapped_column(BigInteger)


class CustomerFunnelRow(Base):
    """One customer's recharge orders, those paid and those completed, all told, with when the
    customer started: the funnel of a period's starters reads these rows by `registered_at`
    instead of every order of theirs. Added to as an order is inserted, paid and completed,
    by the fold of the changes noted as it is (`rollup_changes`)."""

    __tablename__ = "customer_funnels"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recharge_orders: Mapped[int] = mapped_column(Integer)
    paid_orders: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index(
            "ix_customer_funnels_registered_at",
            "registered_at",
            postgresql_include=["recharge_orders", "paid_orders", "completed"],
        ),
    )


class CampaignFunnelRow(Base):
    """One customer's recharge orders that hold or were granted a slot of one campaign's
    offers (`recharge_orders`), those of them paid and those completed, with when the customer
    started: the funnel of one campaign reads these rows by (campaign, `registered_at`)
    instead of the orders of a period's starters. A customer has a row while one of its orders
    takes an offer of the campaign. Worked out again from the customer's orders and claims by
    the fold, for each customer whose orders or claims changed
    (`campaign_funnels.campaign_funnel_roll_ups`)."""

    __tablename__ = "campaign_funnels"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recharge_orders: Mapped[int] = mapped_column(Integer)
    paid_orders: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # A campaign's funnel of a period's starters, from the index alone on PostgreSQL.
        Index(
            "ix_campaign_funnels_started",
            "campaign_id",
            "registered_at",
            postgresql_include=["paid_orders", "completed"],
        ),
    )


class OffersSeenRow(Base):
    """The first time a customer saw a campaign's offers (the offers screen showing it): one
    row a customer and campaign, the funnel's "saw offers" step."""

    __tablename__ = "offers_seen"
    # The funnel of every campaign asks whether a customer saw any campaign's offers.
    __table_args__ = (Index("ix_offers_seen_customer_id", "customer_id"),)

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class HoldoutBucketRow(Base):
    """A customer's hold-out bucket in a campaign (`domain.holdout.holdout_bucket`), kept so
    that the hold-out page groups customers in the database instead of hashing each of them on
    every read. It depends on the campaign's code and the customer only (not on the percent),
    so it never changes; a customer without one is hashed when read, and kept then."""

    __tablename__ = "holdout_buckets"
    # The control group's customers: the buckets below the campaign's share, in order.
    __table_args__ = (Index("ix_holdout_buckets_bucket", "campaign_code", "bucket", "customer_id"),)

    campaign_code: Mapped[str] = mapped_column(String(48), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger)


# The kinds of change of an order that the roll-ups count, as `rollup_changes.kind` names them.
ORDERED, PAID, COMPLETED = "ordered", "paid", "completed"
# A claim of one of the order's offers made, released or forgotten: the campaigns it is in.
CLAIM_CHANGED = "claim_changed"


class RollupChangeRow(Base):
    """A change of an order that the roll-ups have not counted yet: a recharge order made
    (`ordered`; an order inserted completed, by an import, notes `completed` too), a payment
    of any order (`paid`: the fold counts those of recharges), a recharge order completed
    (`completed`), a claim of one of its offers made, released or forgotten (`claim_changed`).
    Inserted by the database in the statement that makes the change (the triggers of
    migrations 0038 and 0042), so no code path can change an order without it; folded into
    the roll-ups and deleted by `rollup_fold.fold_rollups`. `folding` marks the rows of the
    fold under way (claimed in its transaction)."""

    __tablename__ = "rollup_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    order_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    folding: Mapped[bool] = mapped_column(Boolean, server_default=false())


class RollupFoldRow(Base):
    """The one row folds take turns on (`id` 1): each fold adds one to it first, so on
    PostgreSQL a second fold waits for the first's commit (SQLite's writers take turns
    anyway)."""

    __tablename__ = "rollup_folds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    folds: Mapped[int] = mapped_column(BigInteger)


# A customer's day before its first (none) and after its last (none), in the day cells' keys
# (days are numbered from 1970-01-01, UTC).
NO_DAY_BEFORE = -1
NO_DAY_AFTER = 1_000_000


class RechargeCustomerDayRow(Base):
    """Completed recharges (count and fen) of one customer in one campaign and UTC day (days
    numbered from 1970-01-01), with the days of the customer's rows before and after it in the
    campaign (`NO_DAY_BEFORE`, `NO_DAY_AFTER` at either end). The day cells are kept from
    these rows."""

    __tablename__ = "recharge_customer_days"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    recharges: Mapped[int] = mapped_column(Integer)
    fen: Mapped[int] = mapped_column(BigInteger)
    previous_day: Mapped[int] = mapped_column(Integer)
    next_day: Mapped[int] = mapped_column(Integer)


class RechargeDayCellRow(Base):
    """How many customers of a campaign recharged on a UTC day having last recharged on
    `previous_day` and recharging next on `next_day` (`customers`), and how many of them
    recharged once that day (`single`): a period of whole days counts its distinct paying
    customers from these cells alone (those whose previous day falls before it) and its
    one-recharge customers (also with their next day after it, once that day), a few cells a
    day instead of a row per customer."""

    __tablename__ = "recharge_day_cells"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    previous_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    customers: Mapped[int] = mapped_column(Integer)
    single: Mapped[int] = mapped_column(Integer)


class RechargeDayPairRow(Base):
    """Σ over customers of the fen a customer recharged on `day` times the fen it recharged on
    `later_day` (`day` ≤ `later_day`, UTC days numbered from 1970-01-01; every recharge,
    campaign 0): a customer's ¥ over whole days [d0, d1) squared is the sum of its products
    over the pairs of days there, so the period's Σ of every customer's ¥ squared (the
    variance of ¥ per customer) is read from the pairs with d0 ≤ day ≤ later_day < d1 (those
    of two different days twice) instead of from a row per customer. Kept by the fold from the
    customer day rows (`day_pairs.py`)."""

    __tablename__ = "recharge_day_pairs"

    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    later_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    fen_product: Mapped[int] = mapped_column(BigInteger)
