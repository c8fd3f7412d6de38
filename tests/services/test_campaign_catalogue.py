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
    tables.loaded_offers["double"] = replace(tables.loaded_offers["double"], used=40)
    tables.loaded_rewards["coupon-5"] = replace(tables.loaded_rewards["coupon-5"], redeemed=7)
    await catalogue.load(parse_campaign_file(GOOD.replace("quota = 100", "quota = 60")))
    tables = units.database.tables
    assert (tables.loaded_offers["double"].used, tables.loaded_offers["double"].offer.quota) == (
        40,
        60,
    )
    assert tables.loaded_rewards["coupon-5"].redeemed == 7
    [campaign] = tables.loaded_campaigns.values()
    assert campaign.campaign.loaded_at == NOW
    assert campaign.campaign.extra["countdown_minutes"] == [1440, 120]


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
    tables.loaded_offers["double"] = replace(tables.loaded_offers["double"], used=40)
    tables.loaded_rewards["coupon-5"] = replace(tables.loaded_rewards["coupon-5"], redeemed=7)
    before = units.database.commits
    with pytest.raises(CampaignFileError, match=said):
        await catalogue.load(
            parse_campaign_file(text.replace('name_en = "Festival"', 'name_en = "New"'))
        )
    assert units.database.commits == before
    [campaign] = units.database.tables.loaded_campaigns.values()
    assert campaign.campaign.name_en == "Festival"


async def test_an_offer_of_another_campaign_is_refused() -> None:
    units = FakeUnitOfWorkFactory()
    catalogue = CampaignCatalogue(units, ManualClock(NOW))
    await catalogue.load(parse_campaign_file(GOOD))
    moved = GOOD.replace('code = "festival"', 'code = "spring"')
    with pytest.raises(CampaignFileError, match="offer double belongs to another campaign"):
        await catalogue.load(parse_campaign_file(moved))
