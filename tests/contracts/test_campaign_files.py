"""Loading a campaign file: the repository's contract, held by the fake, SQLite and PostgreSQL
alike. One campaign, offer and reward per code: loading one again updates it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.repositories.campaign_files import (
    CampaignToLoad,
    LoadedOffer,
    OfferToLoad,
    RewardToLoad,
)
from tests.contracts.conftest import NOW, World

CAMPAIGN = CampaignToLoad(
    code="festival",
    name_zh="充值节",
    name_en="Festival",
    terms_zh="条款",
    terms_en="Terms",
    starts_at=NOW,
    ends_at=NOW + timedelta(days=10),
    timezone="Asia/Shanghai",
    status="active",
    audience="all",
    audience_tier=None,
    audience_carrier=None,
    priority=10,
    exclusive=False,
    extra={"countdown_minutes": [120]},
    loaded_at=NOW,
)
REWARD = RewardToLoad(
    "coupon-5", "coupon", "5元抵用券", "¥5 coupon", 500, 1000, None, 500, 30, None
)


def offer(campaign_id: int, quota: int | None = 100) -> OfferToLoad:
    return OfferToLoad(
        "double", campaign_id, "points_multiplier", {"multiplier": 2}, quota, None, None
    )


async def test_a_campaign_and_its_offer_are_one_per_code(world: World) -> None:
    async with world.units() as uow:
        first = await uow.campaign_files.save_campaign(CAMPAIGN)
        assert await uow.campaign_files.offer("double") is None
        await uow.campaign_files.save_offer(offer(first))
        await uow.commit()
    async with world.units() as uow:
        again = await uow.campaign_files.save_campaign(replace(CAMPAIGN, name_en="Festival 2"))
        other = await uow.campaign_files.save_campaign(replace(CAMPAIGN, code="spring"))
        await uow.campaign_files.save_offer(offer(first, quota=50))
        await uow.commit()
    assert again == first and other != first
    async with world.units.read() as uow:
        assert await uow.campaign_files.offer("double") == LoadedOffer(first, 0)


async def test_nothing_of_a_load_not_committed_is_kept(world: World) -> None:
    async with world.units() as uow:
        campaign_id = await uow.campaign_files.save_campaign(CAMPAIGN)
        await uow.campaign_files.save_offer(offer(campaign_id))
        await uow.campaign_files.save_reward(REWARD)
    async with world.units.read() as uow:
        assert await uow.campaign_files.offer("double") is None
        assert await uow.campaign_files.redeemed("coupon-5") is None


async def test_a_reward_is_one_per_code_and_starts_with_none_redeemed(world: World) -> None:
    async with world.units() as uow:
        assert await uow.campaign_files.redeemed("coupon-5") is None
        await uow.campaign_files.save_reward(REWARD)
        await uow.commit()
    async with world.units() as uow:
        await uow.campaign_files.save_reward(replace(REWARD, stock=10))
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.campaign_files.redeemed("coupon-5") == 0


async def test_the_catalogue_tells_a_products_kind(world: World) -> None:
    async with world.units.read() as uow:
        assert await uow.campaign_files.product_kind("data-1g-7d") == "data"
        assert await uow.campaign_files.product_kind("credit-30") == "credit"
        assert await uow.campaign_files.product_kind("data-3g") is None
