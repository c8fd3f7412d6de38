"""The ticket state machine and the support figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from domain.tickets import (
    TRANSITIONS,
    Category,
    IllegalTicketTransition,
    Priority,
    Ticket,
    TicketStatus,
    back_to_staff,
    check_transition,
    percentile,
    priority_for,
    sources_of,
    support_stats,
)

T = TicketStatus
START = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (T.OPEN, T.OPEN),
        (T.ASSIGNED, T.OPEN),
        (T.ASSIGNED, T.ASSIGNED),
        (T.RESOLVED, T.WAITING),
        (T.CLOSED, T.RESOLVED),
        (T.CLOSED, T.WAITING),
        (T.CLOSED, T.CLOSED),
    ],
)
def test_illegal_transitions_are_refused(current: TicketStatus, wanted: TicketStatus) -> None:
    with pytest.raises(IllegalTicketTransition):
        check_transition(current, wanted)


def test_the_path_of_a_ticket_and_its_reopening_are_legal() -> None:
    path = [T.OPEN, T.ASSIGNED, T.WAITING, T.ASSIGNED, T.RESOLVED, T.CLOSED, T.OPEN]
    for current, wanted in pairwise(path):
        check_transition(current, wanted)
    assert set(TRANSITIONS) == set(TicketStatus)


def test_only_active_tickets_can_be_resolved_and_only_finished_ones_reopened() -> None:
    assert sources_of(T.RESOLVED) == ["assigned", "open", "waiting"]
    assert "resolved" in sources_of(T.OPEN) and "closed" in sources_of(T.OPEN)
    assert back_to_staff(True) is T.ASSIGNED and back_to_staff(False) is T.OPEN


def test_security_and_a_missing_top_up_go_first() -> None:
    assert priority_for(Category.ACCOUNT_SECURITY) is Priority.HIGH
    assert priority_for(Category.TOPUP_MISSING, order_not_completed=True) is Priority.HIGH
    assert priority_for(Category.TOPUP_MISSING) is Priority.NORMAL
    assert priority_for(Category.OTHER) is Priority.NORMAL


def _ticket(
    n: int, category: Category, first: int | None, resolved: int | None, csat: int | None
) -> Ticket:
    return Ticket(
        id=n,
        customer_id=1,
        chat_id=1,
        category=category,
        priority=Priority.NORMAL,
        status=T.CLOSED,
        created_at=START,
        first_response_at=START + timedelta(minutes=first) if first is not None else None,
        resolved_at=START + timedelta(minutes=resolved) if resolved is not None else None,
        csat=csat,
    )


def test_support_figures_first_response_p90_resolution_csat_and_categories() -> None:
    tickets = [_ticket(n, Category.PAYMENT, n, n * 10, 4) for n in range(1, 11)]
    tickets.append(_ticket(11, Category.OTHER, None, None, None))
    tickets.append(_ticket(12, Category.OTHER, 100, 200, 1))
    stats = support_stats(tickets)
    assert stats.tickets == 12
    assert stats.first_response_avg == timedelta(seconds=round(155 * 60 / 11))
    assert stats.resolution_avg == timedelta(seconds=round(750 * 60 / 11))
    assert stats.first_response_p90 == timedelta(minutes=10)
    assert stats.csat_count == 11 and stats.csat_avg == pytest.approx(41 / 11)
    assert stats.by_category == {Category.PAYMENT: 10, Category.OTHER: 2}
    assert support_stats([]).first_response_avg is None


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.9) == 0
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([float(n) for n in range(1, 101)], 0.9) == 90.0
