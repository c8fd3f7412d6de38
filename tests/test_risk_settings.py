"""Risk settings from the environment: actions by rule name, bad values refused by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.assembly import risk_rules
from bot.settings import Settings
from domain.risk import RiskAction, RiskRule


def test_actions_are_read_by_rule_name_over_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISK_ACTIONS", "orders_per_hour=freeze, declines_in_a_row=hold")
    monkeypatch.setenv("RISK_NUMBERS_PER_DAY", "2")
    rules = risk_rules(Settings(_env_file=None))  # type: ignore[call-arg]
    assert rules.action(RiskRule.ORDERS_PER_HOUR) is RiskAction.FREEZE
    assert rules.action(RiskRule.DECLINES_IN_A_ROW) is RiskAction.HOLD
    assert rules.action(RiskRule.AMOUNT_PER_HOUR) is RiskAction.HOLD
    assert rules.numbers_per_day == 2


@pytest.mark.parametrize("value", ["orders_per_hour=ban", "coupon_guess=hold", "freeze"])
def test_a_bad_action_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RISK_ACTIONS", value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "risk_actions" in str(refused.value).lower()
