"""SQLAlchemy tables. One metadata for SQLite and PostgreSQL; Alembic migrations follow it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CustomerRow(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # NULL once the customer erased their personal data; kept rows stay for financial records.
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The customer's own time zone (IANA name) for pushes at a local time; None: the default.
    timezone: Mapped[str | None] = mapped_column(String(64))


class PhoneBindingRow(Base):
    __tablename__ = "phone_bindings"
    __table_args__ = (UniqueConstraint("customer_id", "digits"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    digits: Mapped[str] = mapped_column(String(11), index=True)
    carrier: Mapped[str] = mapped_column(String(16))
    bound_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Shared as the customer's own Telegram contact (True), or typed (False: unverified).
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("chat_id", "telegram_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    price_fen: Mapped[int] = mapped_column(Integer)
    face_value_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    data_mb: Mapped[int | None] = mapped_column(Integer)
    validity_days: Mapped[int | None] = mapped_column(Integer)
    # Comma-separated carriers served; empty for every carrier.
    carriers: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    phone_digits: Mapped[str | None] = mapped_column(String(11))
    carrier: Mapped[str | None] = mapped_column(String(16))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    product_kind: Mapped[str | None] = mapped_column(String(16))
    product_name_zh: Mapped[str] = mapped_column(String(64), default="")
    product_name_en: Mapped[str] = mapped_column(String(64), default="")
    payment_method: Mapped[str | None] = mapped_column(String(16))
    gateway_reference: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    # Set while the carrier gateway is asked; the next check waits until then.
    next_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Has the customer been told the final outcome? (A sweep tells those who were not.) It
    # is set only once the message was delivered; while one is being sent, the outcome is
    # claimed until a deadline, after which the sweep sends it again.
    outcome_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome_claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Why the order last changed status: the database writes it into the order's history row
    # (order_events) in the same statement as the change (migration 0012's triggers).
    last_cause: Mapped[str | None] = mapped_column(String(64))
    # Price before offers, and what the campaign engine quoted (benefits, points, cash-back).
    list_price_fen: Mapped[int | None] = mapped_column(Integer)
    quote: Mapped[dict[str, object] | None] = mapped_column(JSON)
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    # A data pack bundled with call credit: topped up with it, priced into list_price_fen.
    bundle_product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    bundle_product_code: Mapped[str | None] = mapped_column(String(32))
    bundle_name_zh: Mapped[str | None] = mapped_column(String(64))
    bundle_name_en: Mapped[str | None] = mapped_column(String(64))
    bundle_price_fen: Mapped[int | None] = mapped_column(Integer)
    # The customer's own coupon (redeemed with points) this order is priced with; it is
    # taken when the paid order is sent to the carrier.
    reward_coupon_id: Mapped[int | None] = mapped_column(Integer)


class OrderEventRow(Base):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class PaymentRow(Base):
    """The one charge of an order (unique per order) and its refund."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    method: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(128))
    telegram_charge_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    captured_at: Mapped[datetime] = mapped_column(UtcDateTime())
    refunded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    refund_route: Mapped[str | None] = mapped_column(String(16))
    # When a refund through the provider was taken on (cleared when the provider refuses).
    refund_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WalletEntryRow(Base):
    """Append-only wallet ledger; a balance is the sum of a customer's entries."""

    __tablename__ = "wallet_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    # One entry per cause: "pay:<order>", "refund:<order>", "topup:<order>".
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class WalletRow(Base):
    """The running balance, moved only together with a ledger entry and never below zero."""

    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint("balance_fen >= 0", name="balance_not_negative"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    balance_fen: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    terms_zh: Mapped[str] = mapped_column(String(2000))
    terms_en: Mapped[str] = mapped_column(String(2000))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    timezone: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(24))
    audience_tier: Mapped[str | None] = mapped_column(String(16))
    audience_carrier: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    # Everything else the campaign file says (countdown reminders, referral rewards...).
    extra: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OfferSlotRow(Base):
    """One of an offer's `OFFER_SLOT_SHARDS` counters (`domain/persistence/offer_slots.py`):
    its share of the offer's quota and budget (None: no limit) and what claims took of it.
    A claim takes from one shard by a conditional update, so claims at once wait for one
    another only when they hit the same shard; the shares add up to the offer's quota and
    budget, so the offer's are never exceeded. The offer's slots used and budget spent are the
    sums over its shards."""

    __tablename__ = "offer_slots"
    __table_args__ = (
        CheckConstraint("quota IS NULL OR used <= quota", name="share_not_exceeded"),
        CheckConstraint("budget_fen IS NULL OR spent_fen <= budget_fen", name="budget_share_kept"),
    )

    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    quota: Mapped[int | None] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    budget_fen: Mapped[int | None] = mapped_column(Integer)
    spent_fen: Mapped[int] = mapped_column(Integer, default=0)


class OfferRow(Base):
    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # The offer's own parameters (amounts in fen), as the engine's `Offer` fields.
    params: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    quota: Mapped[int | None] = mapped_column(Integer)
    per_customer: Mapped[int | None] = mapped_column(Integer)
    budget_fen: Mapped[int | None] = mapped_column(Integer)
    # Slots taken and budget spent: the sums of the offer's shards (`OfferSlotRow`).
    used: Mapped[int] = column_property(
        select(func.coalesce(func.sum(OfferSlotRow.used), 0))
        .where(OfferSlotRow.offer_id == id)
        .correlate_except(OfferSlotRow)
        .scalar_subquery()
    )
    spent_fen: Mapped[int] = column_property(
        select(func.coalesce(func.sum(OfferSlotRow.spent_fen), 0))
        .where(OfferSlotRow.offer_id == id)
        .correlate_except(OfferSlotRow)
        .scalar_subquery()
    )
    # The counts kept here before they moved to the shards (migration 0039), zeroed then:
    # SQLite cannot drop a column its CHECK constraint names without rebuilding this table,
    # which the claims reference. Nothing reads or writes them.
    used_unsharded: Mapped[int] = mapped_column(Integer, default=0)
    spent_fen_unsharded: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        CheckConstraint("quota IS NULL OR used_unsharded <= quota", name="quota_not_exceeded"),
        CheckConstraint(
            "budget_fen IS NULL OR spent_fen_unsharded <= budget_fen", name="budget_kept"
        ),
    )


class OfferClaimRow(Base):
    """One order's use of one offer: held when the paid order is sent to the carrier, granted
    on completion, released on failure; with what it costs the campaign, by kind.

    `cashback_fen` is all the wallet money the claim returns (and takes of the offer's
    budget): its red packet (`red_packet_fen`, of a red-packet, first-recharge or denomination
    offer) or its percentage cash-back (the rest). `bonus_points`: the points it adds beyond
    the base (a first-recharge bonus, a multiplier's extra); `discount_fen`: what it takes off
    the price (a coupon, a bundle)."""

    __tablename__ = "offer_claims"
    __table_args__ = (UniqueConstraint("offer_id", "order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    cashback_fen: Mapped[int] = mapped_column(Integer, default=0)
    red_packet_fen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bonus_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    discount_fen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class AllowanceRow(Base):
    """How much of one limited allowance a customer has taken: a day's order total in fen
    (`daily:<purpose>:<day>`), the uses of an offer (`offer:<id>`) or of a reward
    (`reward:<id>`). Taken only by a conditional update that stays within the limit."""

    __tablename__ = "customer_allowances"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)


class PointsEntryRow(Base):
    """Append-only points ledger: earn, redeem, expire, reverse, adjust. Never edited."""

    __tablename__ = "points_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    points: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    # One entry per cause: "earn:<order>", "reverse:<order>", "redeem:<id>", "expire:<entry>".
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # For earned points: when they lapse (oldest first).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


class PointsBalanceRow(Base):
    """The running points balance, moved only with a ledger entry and never below zero."""

    __tablename__ = "points_balances"
    __table_args__ = (CheckConstraint("points >= 0", name="points_not_negative"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    # When the points sweep must look at this customer next: the earliest lapse date of their
    # earned points still unspent (or earlier, never later); None when nothing can lapse. The
    # sweeps read only customers due by it, so their cost follows what is due.
    next_lapse_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    # The lapse date the customer was last warned about (None: not warned of the next one).
    lapse_warned_for: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RewardRow(Base):
    """Something to redeem points for: a coupon, a data pack, goods; with stock."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("stock IS NULL OR redeemed <= stock", name="stock_not_exceeded"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    cost_points: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)
    redeemed: Mapped[int] = mapped_column(Integer, default=0)
    per_customer: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A coupon: what it takes off a recharge and for how many days it can be used.
    value_fen: Mapped[int | None] = mapped_column(Integer)
    valid_days: Mapped[int | None] = mapped_column(Integer)
    # A data pack: the catalogue product topped up.
    product_code: Mapped[str | None] = mapped_column(String(32))


class RedemptionRow(Base):
    __tablename__ = "redemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    points: Mapped[int] = mapped_column(Integer)
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # A data pack: the order that tops it up (paid by these points, given back if it fails).
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)


class RewardCouponRow(Base):
    """A coupon a customer redeemed points for: theirs alone, used on one recharge before it
    expires. `order_id` is the order that took it (none: still free to use); taking it is a
    conditional write, and an order that expires or is refunded gives it back."""

    __tablename__ = "reward_coupons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    redemption_key: Mapped[str] = mapped_column(String(64), unique=True)
    reward_code: Mapped[str] = mapped_column(String(48))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    value_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class NoticeRow(Base):
    """A notice that must reach a customer once (e.g. "your points lapse soon"), by its key."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(96), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


from domain.persistence import audit_tables as _audit_tables  # noqa: E402, F401
from domain.persistence import broadcast_tables as _broadcast_tables  # noqa: E402,F401
from domain.persistence import chat_update_tables as _chat_update_tables  # noqa: E402,F401
from domain.persistence import consent_tables as _consent_tables  # noqa: E402, F401
from domain.persistence import dashboard_tables as _dashboard_tables  # noqa: E402, F401
from domain.persistence import pin_tables as _pin_tables  # noqa: E402, F401
from domain.persistence import referral_tables as referral_tables  # noqa: E402
from domain.persistence import reminder_tables as _reminder_tables  # noqa: E402, F401
from domain.persistence import risk_tables as _risk_tables  # noqa: E402, F401
from domain.persistence import rollup_tables as _rollup_tables  # noqa: E402, F401
from domain.persistence import support_tables as _support_tables  # noqa: E402,F401
