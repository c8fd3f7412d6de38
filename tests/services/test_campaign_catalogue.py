"""Loading a campaign file, on the fake unit of work: created or updated by code, what was used
kept, and a file that asks for less than was used refused with nothing of it loaded. The command
line around it is tested on the databases (`tests/integration/test_campaign_file_limits.py`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.campaign_file import CampaignFileError, parse_campaign_file
from domain.services.campaign_catalogue import CampaignCatalogue, LoadReport
from tests.fakes.clock import ManualClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.integration.test_campaign_file_limits import GOOD

NOW = datetime(2026, 10, 30, 4, 0, tzinfo=UTC)
DATA_PACK_REWARD = """
[[rewards]]
code = "pack"
kind = "data_pack"
name_zh = "流量包"
name_en = "Data pack"
cost_points = 800
product = "{product}"
"""


async def test_a_file_loads_and_loads_again_over_itself_keeping_what_was_used() -> None:
    units = FakeUnitOfWorkFactory()
    catalogue = CampaignCatalogue(units, ManualClock(NOW))
    assert await catalogue.load(parse_campaign_file(GOOD)) == LoadReport(1, 2, 1)
    tables = units.database.tables
    double, coupon = tables.offer_named("double"), tables.reward_named("coupon-5")
    tables.offers[double.id] = replace(double, used=40)
    tables.rewards[coupon.id] = replace(coupon, redeemed=7)
    await catalogue.load(parse_campaign_file(GOOD.replace("quota = 100", "quota = 60")))
    tables = units.database.tables
    double = tables.offer_named("double")
    assert (double.used, double.quota) == (40, 60)
    assert tables.reward_named("coupon-5").redeemed == 7
    [campaign] = tables.campaigns.values()
    assert campaign.loaded_at == NOW
    assert campaign.extra["countdown_minutes"] == [1440, 120]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (GOOD.replace("quota = 100", "quota = 10"), "quota 10 is below the 40 slots already taken"),
        (GOOD.replace("stock = 1000", "stock = 5"), "stock 5 is below the 7 already redeemed"),
        (GOOD + DATA_PACK_REWARD.format(product="credit-30"), "is no data pack of the catalogue"),
    ],
)
async def test_a_file_asking_for_less_than_was_used_loads_nothing(text: str, said: str) -> None:
    units = FakeUnitOfWorkFactory()
    catalogue = CampaignCatalogue(units, ManualClock(NOW))
    await catalogue.load(parse_campaign_file(GOOD))
    tables = units.database.tables
    double, coupon = tables.offer_named("double"), tables.reward_named("coupon-5")
    tables.offers[double.id] = replace(double, used=40)
    tables.rewards[coupon.id] = replace(coupon, redeemed=7)
    before = units.database.commits
    with pytest.raises(CampaignFileError, match=said):
        await catalogue.load(
            parse_campaign_file(text.replace('name_en = "Festival"', 'name_en = "New"'))
        )
    assert units.database.commits == before
    [campaign] = units.database.tables.campaigns.values()
    assert campaign.name_en == "Festival"


async def test_an_offer_of_another_campaign_is_refused() -> None:
    units = FakeUnitOfWorkFactory()
    catalogue = CampaignCatalogue(units, ManualClock(NOW))
    await catalogue.load(parse_campaign_file(GOOD))
    moved = GOOD.replace('code = "festival"', 'code = "spring"')
    with pytest.raises(CampaignFileError, match="offer double belongs to another campaign"):
        await catalogue.load(parse_campaign_file(moved))


RISK = """
[campaigns.risk]
orders_per_hour = 2
amount_per_hour_yuan = 300.50
new_account_large_yuan = 100
new_account_minutes = 30
"""


def _with_risk(section: str) -> str:
    """GOOD with a `[campaigns.risk]` section after the campaign's own keys."""
    head, offers = GOOD.split("[[campaigns.offers]]", 1)
    return head + section + "[[campaigns.offers]]" + offers


async def test_a_risk_section_is_kept_with_the_campaign_in_fen() -> None:
    units = FakeUnitOfWorkFactory()
    await CampaignCatalogue(units, ManualClock(NOW)).load(parse_campaign_file(_with_risk(RISK)))
    [campaign] = units.database.tables.campaigns.values()
    assert campaign.extra["risk"] == {
        "orders_per_hour": 2,
        "amount_per_hour_fen": 30_050,
        "new_account_large_fen": 10_000,
        "new_account_minutes": 30,
    }
    # Loaded again without it, the campaign's limits are gone: the settings' stand.
    await CampaignCatalogue(units, ManualClock(NOW)).load(parse_campaign_file(GOOD))
    [campaign] = units.database.tables.campaigns.values()
    assert "risk" not in campaign.extra


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("orders_per_hour = 0", "campaigns.0.risk.orders_per_hour: Input should be greater than"),
        ("orders_per_day = -5", "campaigns.0.risk.orders_per_day: Input should be greater than"),
        ('numbers_per_day = "five"', "campaigns.0.risk.numbers_per_day: Input should be a valid"),
        ("accounts_per_number = 3000000000", "campaigns.0.risk.accounts_per_number: Input should"),
        ("amount_per_hour_yuan = 0", "campaigns.0.risk.amount_per_hour_yuan: Input should be"),
        ("amount_per_hour_yuan = 1.234", "campaigns.0.risk.amount_per_hour_yuan: Value error, an"),
        ("new_account_large_yuan = 200000", "new_account_large_yuan: Value error, an amount is at"),
        ("new_account_minutes = 50000", "campaigns.0.risk.new_account_minutes: Input should be"),
        ("declines_in_a_row = 3", "campaigns.0.risk.declines_in_a_row: Extra inputs are not"),
    ],
)
async def test_a_bad_risk_limit_is_refused_naming_it_and_nothing_is_loaded(
    line: str, said: str
) -> None:
    units = FakeUnitOfWorkFactory()
    catalogue = CampaignCatalogue(units, ManualClock(NOW))
    await catalogue.load(parse_campaign_file(GOOD))
    before = units.database.commits
    text = _with_risk(f"\n[campaigns.risk]\n{line}\n").replace(
        'name_en = "Festival"', 'name_en = "New"'
    )
    with pytest.raises(CampaignFileError) as refused:
        await catalogue.load(parse_campaign_file(text))
    assert said in refused.value.message
    assert refused.value.line == text.split("\n").index(line) + 1
    assert units.database.commits == before
    [campaign] = units.database.tables.campaigns.values()
    assert campaign.name_en == "Festival"
