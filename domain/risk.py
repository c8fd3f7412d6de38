"""Risk rules: velocity limits that hold an order before it is paid, or freeze an account.

Each count is an allowance of the customer's (`domain/allowances.py`) taken by one conditional
write inside the order's own unit of work, so two orders at once cannot both slip under a limit.
An order over a limit is still kept, as held: staff release it (it may then be paid), refuse it
(nothing was charged), or keep the account frozen. The rules here are plain Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from domain.orders import CHINA


class RiskRule(StrEnum):
    ORDERS_PER_HOUR = "orders_per_hour"
    ORDERS_PER_DAY = "orders_per_day"
    AMOUNT_PER_HOUR = "amount_per_hour"
    NUMBERS_PER_DAY = "numbers_per_day"
    DECLINES_IN_A_ROW = "declines_in_a_row"
    NEW_ACCOUNT_LARGE = "new_account_large"
    ACCOUNTS_PER_NUMBER = "accounts_per_number"
    COUPON_GUESSES = "coupon_guesses"


class RiskAction(StrEnum):
    # The order is kept but cannot be paid until staff release it.
    HOLD = "hold"
    # The customer can place no new order and redeem nothing until staff release them.
    FREEZE = "freeze"


class CaseStatus(StrEnum):
    OPEN = "open"
    RELEASED = "released"
    REFUNDED = "refunded"
    KEPT_FROZEN = "kept_frozen"


class Decision(StrEnum):
    RELEASE = "release"
    REFUND = "refund"
    KEEP_FROZEN = "keep_frozen"


DECISION_STATUS: Mapping[Decision, CaseStatus] = MappingProxyType(
    {
        Decision.RELEASE: CaseStatus.RELEASED,
        Decision.REFUND: CaseStatus.REFUNDED,
        Decision.KEEP_FROZEN: CaseStatus.KEPT_FROZEN,
    }
)
# The statuses a decision may be taken from: an open case, and a frozen account released later.
DECIDABLE_FROM: Mapping[Decision, frozenset[CaseStatus]] = MappingProxyType(
    {
        Decision.RELEASE: frozenset({CaseStatus.OPEN, CaseStatus.KEPT_FROZEN}),
        Decision.REFUND: frozenset({CaseStatus.OPEN}),
        Decision.KEEP_FROZEN: frozenset({CaseStatus.OPEN}),
    }
)

DEFAULT_ACTIONS: Mapping[RiskRule, RiskAction] = MappingProxyType(
    {
        RiskRule.ORDERS_PER_HOUR: RiskAction.HOLD,
        RiskRule.ORDERS_PER_DAY: RiskAction.HOLD,
        RiskRule.AMOUNT_PER_HOUR: RiskAction.HOLD,
        RiskRule.NUMBERS_PER_DAY: RiskAction.HOLD,
        RiskRule.DECLINES_IN_A_ROW: RiskAction.FREEZE,
        RiskRule.NEW_ACCOUNT_LARGE: RiskAction.HOLD,
        RiskRule.ACCOUNTS_PER_NUMBER: RiskAction.HOLD,
        # Hold: coupon entry stays closed for the rest of the window (staff are alerted).
        RiskRule.COUPON_GUESSES: RiskAction.HOLD,
    }
)


@dataclass(frozen=True)
class RiskRules:
    """The limits (0 turns a rule off) and what each rule does when it fires."""

    orders_per_hour: int = 10
    orders_per_day: int = 30
    amount_per_hour_fen: int = 200_000
    numbers_per_day: int = 5
    declines_in_a_row: int = 5
    new_account_large_fen: int = 30_000
    new_account_window: timedelta = timedelta(hours=1)
    # Distinct accounts recharging one number in a day (China time).
    accounts_per_number: int = 3
    # Wrong coupon codes a customer may type in one window: the last one closes coupon entry
    # until the window ends (always, even with the rules off) and fires the rule.
    coupon_guesses: int = 5
    coupon_window: timedelta = timedelta(minutes=10)
    actions: Mapping[RiskRule, RiskAction] = field(default_factory=lambda: DEFAULT_ACTIONS)
    enabled: bool = True
    # Releasing a held order of at least this much needs two different staff members (0: never).
    two_person_fen: int = 20_000

    def action(self, rule: RiskRule) -> RiskAction:
        return self.actions.get(rule, DEFAULT_ACTIONS[rule])


@dataclass(frozen=True)
class CampaignRiskLimits:
    """A campaign file's `[campaigns.risk]`: the limits that take the settings' place for an
    order on the campaign's offers (None: the settings' limit stands)."""

    orders_per_hour: int | None = None
    orders_per_day: int | None = None
    amount_per_hour_fen: int | None = None
    numbers_per_day: int | None = None
    accounts_per_number: int | None = None
    new_account_large_fen: int | None = None
    new_account_minutes: int | None = None

    def to_json(self) -> dict[str, int]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}

    @classmethod
    def from_json(cls, data: object) -> CampaignRiskLimits | None:
        """As kept with the campaign; None when there is none (or it is not a mapping)."""
        if not isinstance(data, dict):
            return None
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: int(v) for k, v in data.items() if k in names and isinstance(v, int) and v > 0
        }
        return cls(**values) if values else None


def with_campaign_limits(rules: RiskRules, limits: list[CampaignRiskLimits]) -> RiskRules:
    """The rules for an order on the offers of campaigns with `limits`: each limit a campaign
    gives takes the settings' place; of several campaigns, the strictest."""
    if not limits:
        return rules

    def pick(name: str) -> int | None:
        given = [value for one in limits if (value := getattr(one, name)) is not None]
        return min(given) if given else None

    changes: dict[str, Any] = {}
    for name in (
        "orders_per_hour",
        "orders_per_day",
        "amount_per_hour_fen",
        "numbers_per_day",
        "accounts_per_number",
        "new_account_large_fen",
    ):
        if (value := pick(name)) is not None:
            changes[name] = value
    if (minutes := pick("new_account_minutes")) is not None:
        changes["new_account_window"] = timedelta(minutes=minutes)
    return replace(rules, **changes)


@dataclass(frozen=True)
class Verdict:
    """A rule that fired, what it does, and the evidence staff see."""

    rule: RiskRule
    action: RiskAction
    evidence: str


@dataclass(frozen=True)
class RiskCase:
    id: int
    customer_id: int
    order_id: int | None
    rule: RiskRule
    action: RiskAction
    evidence: str
    status: CaseStatus
    created_at: datetime
    decided_by: int | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    # Two-person rule: who approved a large release first (a second staff member completes it).
    first_approver: int | None = None
    first_approver_name: str | None = None

    @property
    def freezes(self) -> bool:
        """Whether this case keeps the customer's account frozen."""
        if self.status is CaseStatus.KEPT_FROZEN:
            return True
        return self.status is CaseStatus.OPEN and self.action is RiskAction.FREEZE


def freezing_statuses() -> tuple[str, ...]:
    """Case statuses that may freeze (with the action): see `RiskCase.freezes`."""
    return (CaseStatus.OPEN.value, CaseStatus.KEPT_FROZEN.value)


def hour_stamp(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y%m%d%H")


def day_stamp(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y%m%d")


def orders_hour_scope(at: datetime) -> str:
    return f"risk:orders:h:{hour_stamp(at)}"


def orders_day_scope(at: datetime) -> str:
    return f"risk:orders:d:{day_stamp(at)}"


def amount_hour_scope(at: datetime) -> str:
    return f"risk:amount:h:{hour_stamp(at)}"


def numbers_day_scope(at: datetime) -> str:
    return f"risk:numbers:d:{day_stamp(at)}"


def number_seen_scope(at: datetime, digits: str) -> str:
    """Taken once per number and day: the first order to a number that day counts it."""
    return f"risk:seen:{day_stamp(at)}:{digits}"


def number_key(digits: str) -> str:
    """A number as the risk counts keep it: a digest, so the counts hold no phone number."""
    return hashlib.sha256(digits.encode()).hexdigest()[:32]


def account_seen_scope(at: datetime, digits: str) -> str:
    """Taken once per customer, number and day: the account's first order to the number."""
    return f"risk:payer:{day_stamp(at)}:{number_key(digits)[:16]}"


def accounts_day_scope(at: datetime) -> str:
    """Of a number (see `number_key`): the distinct accounts that recharged it that day."""
    return f"risk:accounts:d:{day_stamp(at)}"


def coupon_window_scope(rules: RiskRules, at: datetime) -> str:
    """The customer's coupon tries in the current window (windows follow the clock)."""
    seconds = max(int(rules.coupon_window.total_seconds()), 1)
    return f"risk:coupons:{int(at.timestamp()) // seconds}"


def coupon_window_end(rules: RiskRules, at: datetime) -> datetime:
    """When the window `at` is in ends: coupon entry closed in it opens again then."""
    seconds = max(int(rules.coupon_window.total_seconds()), 1)
    start = int(at.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(start + seconds, tz=at.tzinfo or CHINA)


def declines_scope(last_payment_id: int | None) -> str:
    """The counter of a customer's declines in a row since its payment `last_payment_id` (None:
    since it started): a payment that goes through starts a counter of its own, so paying
    writes nothing to start the count again."""
    return f"risk:declines:{last_payment_id or 0}"


def large_amount(rules: RiskRules, amount_fen: int) -> bool:
    """An amount that the new-account rule holds when the account is young."""
    return 0 < rules.new_account_large_fen <= amount_fen


def new_account_large(
    rules: RiskRules, registered_at: datetime, now: datetime, amount_fen: int
) -> bool:
    """A large amount from an account younger than the window."""
    return large_amount(rules, amount_fen) and now - registered_at < rules.new_account_window
