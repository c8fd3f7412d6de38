"""A campaign file's risk limits take the settings' place for an order on its offers; of several
campaigns, the strictest; what is kept with the campaign reads back the same."""

from __future__ import annotations

from datetime import timedelta

from domain.risk import CampaignRiskLimits, RiskRules, with_campaign_limits


def test_a_campaign_limit_takes_the_settings_place_and_the_strictest_wins() -> None:
    settings = RiskRules(orders_per_hour=10, numbers_per_day=5)
    loose = CampaignRiskLimits(orders_per_hour=20, new_account_minutes=30)
    tight = CampaignRiskLimits(orders_per_hour=2, amount_per_hour_fen=5_000)
    assert with_campaign_limits(settings, []) == settings
    one = with_campaign_limits(settings, [loose])
    assert (one.orders_per_hour, one.new_account_window) == (20, timedelta(minutes=30))
    both = with_campaign_limits(settings, [loose, tight])
    assert (both.orders_per_hour, both.amount_per_hour_fen, both.numbers_per_day) == (2, 5_000, 5)


def test_kept_limits_read_back_and_nonsense_is_ignored() -> None:
    limits = CampaignRiskLimits(orders_per_day=4, new_account_large_fen=10_000)
    assert CampaignRiskLimits.from_json(limits.to_json()) == limits
    assert CampaignRiskLimits.from_json(None) is None
    assert CampaignRiskLimits.from_json({"orders_per_day": 0, "unknown": 3}) is None
