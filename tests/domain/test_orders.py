"""The order state machine, money in fen and the recharge limits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import CurrencyMismatch, Money
from domain.orders import (
    FINAL,
    TRANSITIONS,
    IllegalTransition,
    LimitExceeded,
    OrderStatus,
    RechargeLimits,
    check_limits,
    check_transition,
    china_day_start,
    recheck_delay,
)

S = OrderStatus

HAPPY_PATH = [S.CREATED, S.AWAITING_PAYMENT, S.PAID, S.TOPPING_UP, S.COMPLETED]


def test_the_happy_path_and_the_refund_path_are_legal() -> None:
    for current, wanted in itertools.pairwise(HAPPY_PATH):
        check_transition(current, wanted)
    check_transition(S.TOPPING_UP, S.FAILED)
    check_transition(S.FAILED, S.REFUNDED)
    check_transition(S.CREATED, S.EXPIRED)
    check_transition(S.AWAITING_PAYMENT, S.EXPIRED)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (S.CREATED, S.PAID),  # nothing is paid without going through payment
        (S.CREATED, S.COMPLETED),
        (S.PAID, S.EXPIRED),  # a paid order never silently expires
        (S.PAID, S.REFUNDED),
        (S.COMPLETED, S.REFUNDED),
        (S.REFUNDED, S.PAID),
        (S.EXPIRED, S.PAID),
        (S.TOPPING_UP, S.TOPPING_UP),
    ],
)
def test_illegal_transitions_are_refused(current: OrderStatus, wanted: OrderStatus) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, wanted)


def test_final_states_lead_nowhere_and_every_paid_order_can_end() -> None:
    for status in FINAL:
        assert TRANSITIONS[status] == frozenset()
    # From every paid state there is a way to a final state without a customer.
    for start in (S.PAID, S.TOPPING_UP, S.FAILED):
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & FINAL, start


def test_money_is_whole_fen_with_a_currency() -> None:
    assert Money.yuan(100) == Money(10_000)
    assert Money(12345).format() == "¥123.45"
    assert Money(-5).format() == "-¥0.05"
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True)
    with pytest.raises(CurrencyMismatch):
        Money(1) + Money(1, "USD")


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12))
def test_money_arithmetic_is_exact(a: int, b: int) -> None:
    assert (Money(a) + Money(b)).fen == a + b
    assert (Money(a) - Money(b) + Money(b)) == Money(a)


LIMITS = RechargeLimits(minimum=Money.yuan(10), maximum=Money.yuan(500), daily=Money.yuan(1000))


@pytest.mark.parametrize(
    ("amount", "spent", "reason"),
    [
        (Money(999), Money(0), "below_minimum"),
        (Money.yuan(500) + Money(1), Money(0), "above_maximum"),
    ],
)
def test_limits_refuse_with_a_reason(amount: Money, spent: Money, reason: str) -> None:
    with pytest.raises(LimitExceeded) as error:
        check_limits(LIMITS, amount)
    assert error.value.reason == reason


def test_limits_allow_their_exact_boundaries() -> None:
    check_limits(LIMITS, Money.yuan(10))
    check_limits(LIMITS, Money.yuan(500))


def test_the_daily_limit_restarts_at_midnight_china_time() -> None:
    # 16:30 UTC is 00:30 the next day in Beijing.
    start = china_day_start(datetime(2026, 11, 10, 16, 30, tzinfo=UTC))
    assert start.astimezone(UTC) == datetime(2026, 11, 10, 16, 0, tzinfo=UTC)


def test_a_pending_top_up_is_asked_about_on_a_doubling_backoff_up_to_the_longest_wait() -> None:
    longest = timedelta(seconds=30)
    asked, waits = timedelta(0), []
    while asked < timedelta(minutes=2):
        wait = recheck_delay(asked, longest)
        waits.append(wait.total_seconds())
        asked += wait
    assert waits[:7] == [1, 1, 2, 4, 8, 16, 30]
    assert set(waits[6:]) == {30}
    assert recheck_delay(timedelta(0), timedelta(seconds=0.01)) == timedelta(seconds=0.01)
