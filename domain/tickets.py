"""Support tickets: the states a complaint goes through, and the figures support is judged by.

open → assigned → waiting for customer → resolved → closed, with reopen. A staff answer puts a
ticket in "waiting for customer"; the customer's next message brings it back to staff.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class TicketStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    WAITING = "waiting"  # for the customer: staff answered
    RESOLVED = "resolved"
    CLOSED = "closed"


class Category(StrEnum):
    PAYMENT = "payment"
    TOPUP_MISSING = "topup_missing"
    OFFER_POINTS = "offer_points"
    ACCOUNT_SECURITY = "account_security"
    OTHER = "other"


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


# Categories whose complaint is about one order (the customer picks which).
ORDER_CATEGORIES = frozenset({Category.PAYMENT, Category.TOPUP_MISSING, Category.OFFER_POINTS})
# Security problems are served around the clock: they start high.
URGENT_CATEGORIES = frozenset({Category.ACCOUNT_SECURITY})

# What a customer's words in support (ticket messages, suggestions, rating comments) become once
# they erased their personal data; shown to staff as "erased".
ERASED_TEXT = "[erased]"

T = TicketStatus
ACTIVE = frozenset({T.OPEN, T.ASSIGNED, T.WAITING})

TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    T.OPEN: frozenset({T.ASSIGNED, T.WAITING, T.RESOLVED, T.CLOSED}),
    T.ASSIGNED: frozenset({T.WAITING, T.RESOLVED, T.CLOSED}),
    T.WAITING: frozenset({T.ASSIGNED, T.OPEN, T.RESOLVED, T.CLOSED}),
    T.RESOLVED: frozenset({T.OPEN, T.ASSIGNED, T.CLOSED}),
    T.CLOSED: frozenset({T.OPEN, T.ASSIGNED}),
}


class IllegalTicketTransition(ValueError):
    def __init__(self, current: TicketStatus, wanted: TicketStatus) -> None:
        super().__init__(f"{current} -> {wanted}")
        self.current = current
        self.wanted = wanted


def check_transition(current: TicketStatus, wanted: TicketStatus) -> None:
    if wanted not in TRANSITIONS[current]:
        raise IllegalTicketTransition(current, wanted)


def sources_of(target: TicketStatus, among: frozenset[TicketStatus] | None = None) -> list[str]:
    """The states a ticket may move to `target` from (optionally only `among` them)."""
    found = [s for s in TicketStatus if target in TRANSITIONS[s]]
    return sorted(s.value for s in found if among is None or s in among)


def back_to_staff(has_assignee: bool) -> TicketStatus:
    """Where a ticket goes when the customer writes (or reopens it)."""
    return T.ASSIGNED if has_assignee else T.OPEN


def priority_for(category: Category, order_not_completed: bool = False) -> Priority:
    if category in URGENT_CATEGORIES:
        return Priority.HIGH
    if category is Category.TOPUP_MISSING and order_not_completed:
        return Priority.HIGH
    return Priority.NORMAL


@dataclass(frozen=True)
class Ticket:
    id: int
    customer_id: int
    chat_id: int
    category: Category
    priority: Priority
    status: TicketStatus
    created_at: datetime
    order_id: int | None = None
    assignee_id: int | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    csat: int | None = None
    thread_id: int | None = None

    @property
    def number(self) -> str:
        return f"#{self.id}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p90: share 0.9) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class SupportStats:
    tickets: int
    first_response_avg: timedelta | None
    first_response_p90: timedelta | None
    resolution_avg: timedelta | None
    csat_avg: float | None
    csat_count: int
    by_category: dict[Category, int]


def support_stats(tickets: list[Ticket]) -> SupportStats:
    """The figures of the tickets opened in a period."""
    first = [
        (t.first_response_at - t.created_at).total_seconds()
        for t in tickets
        if t.first_response_at is not None
    ]
    resolution = [
        (t.resolved_at - t.created_at).total_seconds() for t in tickets if t.resolved_at is not None
    ]
    ratings = [t.csat for t in tickets if t.csat is not None]

    def seconds(value: float | None) -> timedelta | None:
        return timedelta(seconds=round(value)) if value is not None else None

    return SupportStats(
        tickets=len(tickets),
        first_response_avg=seconds(sum(first) / len(first)) if first else None,
        first_response_p90=seconds(percentile(first, 0.9)) if first else None,
        resolution_avg=seconds(sum(resolution) / len(resolution)) if resolution else None,
        csat_avg=sum(ratings) / len(ratings) if ratings else None,
        csat_count=len(ratings),
        by_category=dict(Counter(t.category for t in tickets)),
    )
