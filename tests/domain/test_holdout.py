"""Hold-out groups: a stable, independent assignment, and the uplift with its 95 % interval
against values worked out by hand with the two-proportion and Welch formulas."""

from __future__ import annotations

import math

import pytest

from domain.holdout import GroupOutcome, in_control, uplift


def test_the_same_customer_is_always_in_the_same_group() -> None:
    first = [in_control("double-11", customer, 10) for customer in range(1, 2001)]
    again = [in_control("double-11", customer, 10) for customer in range(1, 2001)]
    assert first == again


def test_the_control_group_is_the_share_asked_for() -> None:
    control = sum(in_control("double-11", customer, 10) for customer in range(1, 20_001))
    # 10 % of 20,000 is 2,000; a binomial's standard deviation here is about 42.
    assert 1_800 < control < 2_200
    assert not any(in_control("double-11", customer, 0) for customer in range(1, 1001))


def test_groups_of_different_campaigns_are_independent() -> None:
    a = {c for c in range(1, 20_001) if in_control("double-11", c, 50)}
    b = {c for c in range(1, 20_001) if in_control("new-year", c, 50)}
    # Independent halves overlap on about a quarter of everybody (5,000).
    assert 4_700 < len(a & b) < 5_300


def test_recharge_rate_uplift_and_its_interval_by_the_two_proportion_formula() -> None:
    # Treated: 60 of 200 recharged (0.30); control: 20 of 100 (0.20).
    result = uplift(GroupOutcome(200, 60, 0, 0), GroupOutcome(100, 20, 0, 0))
    assert result.rate is not None
    # SE = sqrt(0.3 * 0.7 / 200 + 0.2 * 0.8 / 100) = sqrt(0.00105 + 0.0016) = 0.0514782
    se = math.sqrt(0.00265)
    assert result.rate.estimate == pytest.approx(0.10)
    assert result.rate.low == pytest.approx(0.10 - 1.959964 * se, abs=1e-6)
    assert result.rate.high == pytest.approx(0.10 + 1.959964 * se, abs=1e-6)
    assert (result.rate.low, result.rate.high) == pytest.approx((-0.000895, 0.200895), abs=1e-5)
    assert result.relative == pytest.approx(0.5)  # 0.10 over the control's 0.20
    assert result.enough


def test_yuan_per_customer_uplift_and_its_interval_by_welch() -> None:
    # Treated spent 100, 200 and 300 fen: mean 200, sample variance 10,000.
    # Control spent 0 and 100 fen: mean 50, sample variance 5,000.
    treated = GroupOutcome(3, 3, 600, 100**2 + 200**2 + 300**2)
    control = GroupOutcome(2, 1, 100, 100**2)
    result = uplift(treated, control)
    assert result.fen_per_customer is not None
    # SE = sqrt(10000 / 3 + 5000 / 2) = 76.3763; 1.959964 × SE = 149.695
    assert result.fen_per_customer.estimate == pytest.approx(150)
    assert result.fen_per_customer.low == pytest.approx(0.305, abs=1e-3)
    assert result.fen_per_customer.high == pytest.approx(299.695, abs=1e-3)
    assert not result.enough  # three and two customers say nothing


def test_an_empty_group_gives_no_interval() -> None:
    result = uplift(GroupOutcome(10, 2, 500, 250_000), GroupOutcome(0, 0, 0, 0))
    assert result.rate is None and result.fen_per_customer is None and not result.enough
