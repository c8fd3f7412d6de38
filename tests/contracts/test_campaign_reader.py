"""The catalogue's products and the live campaigns with their offers, as the money services read
them: the contract held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.repositories import SlotClaim
from domain.repositories.money import RELEASED
from tests.contracts.conftest import NOW, World
from tests.contracts.money import an_offer, load, member, recharged
from tests.fakes.money_repositories import catalogue


async def test_the_catalogue_is_seeded_as_the_fake_keeps_it(world: World) -> None:
    async with world.money.read() as uow:
        credit = await uow.products.active("credit")
        data = await uow.products.active("data")
        by_code = await uow.products.by_code("credit-50")
        assert await uow.products.by_code("credit-7") is None
        assert by_code is not None and await uow.products.get(by_code.id) == by_code
    assert [p.code for p in credit] == [f"credit-{y}" for y in (10, 20, 30, 50, 100, 200, 300, 500)]
    # The databases' seed (the migrations') and the fake's copy of it alike, field by field.
    assert [replace(p, id=0) for p in credit + data] == [
        replace(p, id=0) for p in catalogue().values()
    ]


async def test_live_campaigns_are_those_in_their_window_by_priority(world: World) -> None:
    await load(world, "low", an_offer("low-1"), an_offer("low-2"))
    await load(world, "high", an_offer("high-1"), priority=5)
    await load(world, "ended", an_offer("ended-1"), ends_at=NOW)
    await load(world, "later", starts_at=NOW + timedelta(seconds=1))
    await load(world, "also-low")
    async with world.money.read() as uow:
        live = await uow.campaigns.live(NOW)
        ended = await uow.campaigns.by_code("ended")
        assert await uow.campaigns.by_code("none") is None
        assert ended is not None
        offers = await uow.campaigns.offers_of(ended.id)
        by_code = await uow.campaigns.offers_by_code(["low-2", "high-1", "none"])
        assert await uow.campaigns.offers_by_code([]) == {}
    assert [(c.code, [o.code for o in offers]) for c, offers in live] == [
        ("high", ["high-1"]),
        ("also-low", []),
        ("low", ["low-1", "low-2"]),
    ]
    assert [o.code for o in offers] == ["ended-1"] and offers[0].campaign_id == ended.id
    assert sorted(by_code) == ["high-1", "low-2"]
    low = by_code["low-2"]
    assert (low.kind, dict(low.params), low.quota, low.used, low.spent_fen) == (
        "points_multiplier",
        {"multiplier": 2},
        None,
        0,
        0,
    )


async def test_a_customers_view_carries_their_recharges_and_their_use_of_each_offer(
    world: World,
) -> None:
    offers = await load(world, "festival", an_offer("double", quota=5), an_offer("other"))
    me, other = await member(world), await member(world)
    year_ago = NOW - timedelta(days=365)
    await recharged(world, me, 3000, NOW - timedelta(days=10))
    await recharged(world, me, 5000, NOW - timedelta(days=400))  # before `since`: counted once
    await recharged(world, other, 7000, NOW - timedelta(days=1))
    order = await recharged(world, me, 1000, NOW)
    second = await recharged(world, me, 1000, NOW)
    async with world.money() as uow:
        assert await uow.claims.claim(SlotClaim(offers["double"], me), order, NOW)
        assert await uow.claims.claim(SlotClaim(offers["double"], me), second, NOW)
        assert await uow.claims.claim(SlotClaim(offers["other"], other), order, NOW)
        [released] = await uow.claims.of_order(second)
        assert await uow.claims.settle(released, RELEASED)
        await uow.commit()
    async with world.money.read() as uow:
        mine = await uow.campaigns.live_for_customer(NOW, me, year_ago)
        nobody = await uow.campaigns.live_for_customer(NOW, 0, year_ago)
        none_live = await uow.campaigns.live_for_customer(NOW + timedelta(days=30), me, year_ago)
        assert await uow.points.recharge_total_since(me, year_ago) == 5000
    assert (mine.recharge_total, mine.completed_recharges) == (5000, 4)
    [(campaign, uses)] = mine.campaigns
    assert campaign.code == "festival"
    assert [(o.code, o.used, o.used_by_customer) for o in uses] == [
        ("double", 1, 1),
        ("other", 1, 0),
    ]
    assert [o.used_by_customer for _, offers in nobody.campaigns for o in offers] == [0, 0]
    assert (nobody.recharge_total, nobody.completed_recharges) == (0, 0)
    assert (none_live.campaigns, none_live.recharge_total, none_live.completed_recharges) == (
        [],
        5000,
        4,
    )
