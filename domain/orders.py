"""Recharge orders: the state machine every order follows, and the limits on amounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.campaigns import Quote
from domain.catalogue import ProductKind
from domain.money import Money
from domain.phone import Carrier, mask

CHINA = ZoneInfo("Asia/Shanghai")


class OrderStatus(StrEnum):
    CREATED = "created"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    TOPPING_UP = "topping_up"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    # Kept but not payable: a risk rule held it for staff (released: created again; refused:
    # expired, nothing having been charged).
    HELD = "held"


class PaymentMethod(StrEnum):
    WALLET = "wallet"
    TELEGRAM = "telegram"
    SANDBOX = "sandbox"
    # A reward redeemed with points (a data pack): nothing to charge, the points paid for it.
    POINTS = "points"


class OrderPurpose(StrEnum):
    RECHARGE = "recharge"
    WALLET_TOPUP = "wallet_topup"
    # A data pack redeemed with points, topped up like a recharge.
    REWARD = "reward"


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CREATED: frozenset({OrderStatus.AWAITING_PAYMENT, OrderStatus.EXPIRED}),
    OrderStatus.AWAITING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.EXPIRED}),
    OrderStatus.PAID: frozenset({OrderStatus.TOPPING_UP, OrderStatus.COMPLETED}),
    OrderStatus.TOPPING_UP: frozenset({OrderStatus.COMPLETED, OrderStatus.FAILED}),
    OrderStatus.FAILED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.HELD: frozenset({OrderStatus.CREATED, OrderStatus.EXPIRED}),
}

PAYABLE = frozenset({OrderStatus.CREATED, OrderStatus.AWAITING_PAYMENT})
IN_FLIGHT = frozenset({OrderStatus.PAID, OrderStatus.TOPPING_UP, OrderStatus.FAILED})
FINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.REFUNDED, OrderStatus.EXPIRED})
# Orders whose amount counts towards the customer's daily limit.
COUNTS_TOWARDS_LIMIT = frozenset(OrderStatus) - {OrderStatus.REFUNDED, OrderStatus.EXPIRED}


class IllegalTransition(ValueError):
    def __init__(self, current: OrderStatus, wanted: OrderStatus) -> None:
        super().__init__(f"{current} -> {wanted}")
        self.current = current
        self.wanted = wanted


def check_transition(current: OrderStatus, wanted: OrderStatus) -> None:
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(current, wanted)


@dataclass(frozen=True)
class BundledPack:
    """A data pack bought together with call credit in one order, at the bundle price."""

    product_id: int
    code: str
    name_zh: str
    name_en: str
    price: Money


@dataclass(frozen=True)
class Order:
    id: int
    customer_id: int
    purpose: OrderPurpose
    status: OrderStatus
    amount: Money
    created_at: datetime
    expires_at: datetime
    chat_id: int | None = None
    phone_digits: str | None = None
    carrier: Carrier | None = None
    product_id: int | None = None
    product_kind: ProductKind | None = None
    product_name_zh: str = ""
    product_name_en: str = ""
    payment_method: PaymentMethod | None = None
    failure_reason: str | None = None
    completed_at: datetime | None = None
    # What the campaign engine quoted for it (benefits, points, cash-back); None: no offers.
    quote: Quote | None = None
    # The data pack bundled with this call-credit order, if any.
    bundle: BundledPack | None = None

    @property
    def number(self) -> str:
        """The order number a customer and staff quote: date (China time) and id."""
        return f"R{self.created_at.astimezone(CHINA):%Y%m%d}{self.id:06d}"

    @property
    def masked_phone(self) -> str:
        return mask(self.phone_digits) if self.phone_digits else ""

    @property
    def quote_has_coupon(self) -> bool:
        return self.quote is not None and any(b.kind == "coupon" for b in self.quote.benefits)

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def payable(self) -> bool:
        return self.status in PAYABLE

    @property
    def held(self) -> bool:
        return self.status is OrderStatus.HELD


@dataclass(frozen=True)
class RechargeLimits:
    minimum: Money
    maximum: Money
    daily: Money


class LimitExceeded(ValueError):
    """reason: "below_minimum", "above_maximum" or "daily"."""

    def __init__(self, reason: str, limit: Money) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


def check_limits(limits: RechargeLimits, amount: Money) -> None:
    """The smallest and largest amount of one order. The daily limit is taken, within its
    limit, when the order is kept (`OrderRepository.add`)."""
    if amount < limits.minimum:
        raise LimitExceeded("below_minimum", limits.minimum)
    if amount > limits.maximum:
        raise LimitExceeded("above_maximum", limits.maximum)


# A fresh top-up is asked about again after a second, then after twice as long each time
# (1, 2, 4, 8 s...), up to the configured longest wait: most complete within seconds.
FIRST_RECHECK = timedelta(seconds=1)


def recheck_delay(since_sent: timedelta, longest: timedelta) -> timedelta:
    """How long to wait before asking the carrier again about a top-up sent `since_sent` ago:
    as long as it has been pending (a doubling backoff), at least a second, at most
    `longest`."""
    return min(longest, max(FIRST_RECHECK, since_sent))


def china_day_start(moment: datetime) -> datetime:
    """Midnight in China of the day `moment` falls on: where a daily limit starts again."""
    local = moment.astimezone(CHINA)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)
