"""What the money contracts set up, through the repositories' own protocols only (so the same
on the fake, SQLite and PostgreSQL): campaigns with offers and rewards as a campaign file loads
them, customers with a points balance, completed recharges."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from domain.allowances import UNLIMITED
from domain.repositories import NewOrder
from domain.repositories.campaign_files import CampaignToLoad, OfferToLoad, RewardToLoad
from tests.contracts.conftest import NOW, World

CAMPAIGN = CampaignToLoad(
    code="festival",
    name_zh="充值节",
    name_en="Festival",
    terms_zh="条款",
    terms_en="Terms",
    starts_at=NOW - timedelta(days=1),
    ends_at=NOW + timedelta(days=10),
    timezone="Asia/Shanghai",
    status="active",
    audience="all",
    audience_tier=None,
    audience_carrier=None,
    priority=0,
    exclusive=False,
    extra={},
    loaded_at=NOW,
)


def an_offer(
    code: str,
    *,
    quota: int | None = None,
    per_customer: int | None = None,
    budget_fen: int | None = None,
    kind: str = "points_multiplier",
) -> OfferToLoad:
    return OfferToLoad(code, 0, kind, {"multiplier": 2}, quota, per_customer, budget_fen)


def a_reward(code: str, *, stock: int | None = None, cost_points: int = 100) -> RewardToLoad:
    return RewardToLoad(
        code=code,
        kind="coupon",
        name_zh="5元券",
        name_en="¥5 coupon",
        cost_points=cost_points,
        stock=stock,
        per_customer=None,
        value_fen=500,
        valid_days=30,
        product_code=None,
    )


async def load(
    world: World,
    code: str = "festival",
    *offers: OfferToLoad,
    starts_at: datetime = CAMPAIGN.starts_at,
    ends_at: datetime = CAMPAIGN.ends_at,
    priority: int = 0,
) -> dict[str, int]:
    """A campaign with its offers, loaded as a campaign file loads it: the offers' ids by code."""
    campaign = replace(CAMPAIGN, code=code, starts_at=starts_at, ends_at=ends_at, priority=priority)
    async with world.money() as uow:
        campaign_id = await uow.campaign_files.save_campaign(campaign)
        for offer in offers:
            await uow.campaign_files.save_offer(replace(offer, campaign_id=campaign_id))
        await uow.commit()
    async with world.money.read() as uow:
        found = await uow.campaigns.offers_by_code([o.code for o in offers])
    return {code: offer.id for code, offer in found.items()}


async def reward(world: World, loaded: RewardToLoad) -> int:
    async with world.money() as uow:
        await uow.campaign_files.save_reward(loaded)
        await uow.commit()
    async with world.money.read() as uow:
        return next(r.id for r in await uow.rewards.active() if r.code == loaded.code)


async def member(world: World, points: int = 0) -> int:
    """A customer with a points balance (and `points` on it, earned without a lapse date)."""
    me = await world.customer()
    async with world.money() as uow:
        await uow.points.open(me)
        await uow.commit()
    if points:
        async with world.money() as uow:
            assert await uow.points.post(me, points, "adjust", f"start:{me}", NOW)
            await uow.commit()
    return me


async def recharged(world: World, customer_id: int, fen: int, completed_at: datetime) -> int:
    """A recharge of `fen` the customer completed at `completed_at`."""
    async with world.money() as uow:
        order = NewOrder(
            customer_id=customer_id,
            purpose="recharge",
            status="completed",
            amount_fen=fen,
            currency="CNY",
            created_at=completed_at,
            expires_at=completed_at + timedelta(minutes=15),
            completed_at=completed_at,
        )
        kept = await uow.orders.add(order, "test", UNLIMITED)
        await uow.commit()
    return kept.id
