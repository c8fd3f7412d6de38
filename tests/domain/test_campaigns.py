"""Offer maths: time windows, thresholds, stacking and exclusivity, caps, budgets, rounding."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.campaigns import (
    Audience,
    Campaign,
    CampaignStatus,
    Offer,
    OfferKind,
    Situation,
    evaluate,
)
from domain.catalogue import ProductKind
from domain.money import Money
from domain.phone import Carrier
from domain.tiers import Tier, next_tier, tier_for

START = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 2026-11-02 00:00 Beijing
END = datetime(2026, 11, 11, 16, 0, tzinfo=UTC)


def campaign(*offers: Offer, **changes: object) -> Campaign:
    base = Campaign(
        code="c",
        name_zh="活动",
        name_en="Campaign",
        terms_zh="条款",
        terms_en="Terms",
        starts_at=START,
        ends_at=END,
        offers=offers,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def situation(yuan: int = 100, **changes: object) -> Situation:
    base = Situation(
        now=START + timedelta(days=1),
        amount=Money.yuan(yuan),
        product_kind=ProductKind.CREDIT,
        carrier=Carrier.UNICOM,
        tier=Tier.NORMAL,
        new_customer=False,
        base_points=yuan,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


DOUBLE = Offer("double", OfferKind.POINTS_MULTIPLIER, quota=100, multiplier_percent=200)
RED_PACKET = Offer("rp", OfferKind.RED_PACKET, every=Money.yuan(100), returns=Money.yuan(10))


def test_the_first_100_get_double_points_while_slots_last() -> None:
    quote = evaluate([campaign(DOUBLE)], situation(50))
    assert quote.points == 100 and quote.price == Money.yuan(50)
    assert [b.explanation for b in quote.benefits] == ["offer.explain.multiplier"]
    sold_out = evaluate([campaign(DOUBLE)], situation(50, slots_left={"double": 0}))
    assert sold_out.points == 50 and sold_out.benefits == ()


def test_every_100_yuan_returns_10_yuan_at_the_threshold_boundaries() -> None:
    c = [campaign(RED_PACKET)]
    assert evaluate(c, situation(amount=Money.yuan(100) - Money(1))).cashback == Money(0)
    assert evaluate(c, situation(100)).cashback == Money.yuan(10)
    assert evaluate(c, situation(299)).cashback == Money.yuan(20)
    assert evaluate(c, situation(300)).cashback == Money.yuan(30)


def test_time_window_is_start_inclusive_end_exclusive() -> None:
    c = [campaign(RED_PACKET)]
    assert evaluate(c, situation(now=START - timedelta(microseconds=1))).benefits == ()
    assert evaluate(c, situation(now=START)).benefits
    assert evaluate(c, situation(now=END - timedelta(microseconds=1))).benefits
    assert evaluate(c, situation(now=END)).benefits == ()
    paused = [campaign(RED_PACKET, status=CampaignStatus.PAUSED)]
    assert evaluate(paused, situation()).benefits == ()


def test_cashback_rounds_down_in_fen_and_respects_cap_and_budget() -> None:
    offer = Offer("cb", OfferKind.CASHBACK, basis_points=750, cap=Money.yuan(20))
    c = [campaign(offer)]
    # 7.5 % of ¥33.33 = 249.975 fen -> 249 fen, never a fraction of a fen.
    assert evaluate(c, situation(amount=Money(3333))).cashback == Money(249)
    assert evaluate(c, situation(500)).cashback == Money.yuan(20)  # the cap
    budgeted = replace(offer, budget=Money.yuan(100))
    left = situation(500, budget_left={"cb": Money(150)})
    assert evaluate([campaign(budgeted)], left).cashback == Money(150)
    spent = situation(500, budget_left={"cb": Money(0)})
    assert evaluate([campaign(budgeted)], spent).benefits == ()


def test_audiences() -> None:
    for_new = campaign(RED_PACKET, audience=Audience.NEW_CUSTOMERS)
    assert evaluate([for_new], situation(new_customer=True)).benefits
    assert not evaluate([for_new], situation(new_customer=False)).benefits
    for_old = campaign(RED_PACKET, audience=Audience.EXISTING_CUSTOMERS)
    assert evaluate([for_old], situation(new_customer=False)).benefits
    gold = campaign(RED_PACKET, audience=Audience.TIER_AT_LEAST, audience_tier=Tier.GOLD)
    assert not evaluate([gold], situation(tier=Tier.SILVER)).benefits
    assert evaluate([gold], situation(tier=Tier.DIAMOND)).benefits
    unicom = campaign(RED_PACKET, audience=Audience.CARRIER, audience_carrier=Carrier.UNICOM)
    assert evaluate([unicom], situation()).benefits
    assert not evaluate([unicom], situation(carrier=Carrier.MOBILE)).benefits


def test_combinable_campaigns_stack_and_an_exclusive_one_stands_alone() -> None:
    a = campaign(RED_PACKET, code="a", priority=1)
    b = campaign(DOUBLE, code="b", priority=2)
    both = evaluate([a, b], situation(100))
    assert both.cashback == Money.yuan(10) and both.points == 200
    solo = campaign(
        Offer("cb", OfferKind.CASHBACK, basis_points=500), code="solo", priority=9, exclusive=True
    )
    alone = evaluate([a, b, solo], situation(100))
    assert [x.campaign for x in alone.benefits] == ["solo"]
    assert alone.cashback == Money.yuan(5) and alone.points == 100
    # An exclusive campaign of lower priority does not join those that already apply.
    low = replace(solo, priority=0)
    assert {x.campaign for x in evaluate([a, b, low], situation(100)).benefits} == {"a", "b"}


def test_per_customer_cap_first_recharge_and_denomination_steps() -> None:
    once = replace(RED_PACKET, per_customer=1)
    assert not evaluate([campaign(once)], situation(used_by_customer={"rp": 1})).benefits
    first = Offer("first", OfferKind.FIRST_RECHARGE, bonus=Money.yuan(5), bonus_points=50)
    assert evaluate([campaign(first)], situation(30, new_customer=True)).points == 80
    assert not evaluate([campaign(first)], situation(30)).benefits
    steps = Offer(
        "big",
        OfferKind.DENOMINATION_BONUS,
        steps=((Money.yuan(100), Money.yuan(2)), (Money.yuan(300), Money.yuan(8))),
    )
    assert evaluate([campaign(steps)], situation(50)).cashback == Money(0)
    assert evaluate([campaign(steps)], situation(200)).cashback == Money.yuan(2)
    assert evaluate([campaign(steps)], situation(300)).cashback == Money.yuan(8)


def test_coupons_and_bundles_lower_the_price_never_below_zero() -> None:
    coupon = Offer(
        "welcome",
        OfferKind.COUPON,
        coupon_code="WELCOME5",
        discount=Money.yuan(5),
        min_amount=Money.yuan(30),
        expires_at=END,
    )
    c = [campaign(coupon)]
    assert evaluate(c, situation(50, coupon_code="welcome5")).price == Money.yuan(45)
    assert evaluate(c, situation(20, coupon_code="WELCOME5")).price == Money.yuan(20)
    assert evaluate(c, situation(50, coupon_code="WRONG")).price == Money.yuan(50)
    huge = replace(coupon, discount=Money.yuan(500), min_amount=Money(0))
    assert evaluate([campaign(huge)], situation(10, coupon_code="WELCOME5")).price == Money(0)
    bundle = Offer("pack", OfferKind.BUNDLE, bundle_product="data-5g-30d", discount=Money.yuan(6))
    assert evaluate([campaign(bundle)], situation(50, bundle_with="data-5g-30d")).price == (
        Money.yuan(44)
    )
    assert evaluate([campaign(bundle)], situation(50)).price == Money.yuan(50)


def test_data_only_offers_skip_call_credit() -> None:
    data_only = replace(RED_PACKET, product_kinds=frozenset({ProductKind.DATA}))
    assert not evaluate([campaign(data_only)], situation(100)).benefits
    assert evaluate([campaign(data_only)], situation(100, product_kind=ProductKind.DATA)).benefits


@pytest.mark.parametrize(
    ("yuan", "tier", "ahead"),
    [
        (0, Tier.NORMAL, 500),
        (499, Tier.NORMAL, 1),
        (500, Tier.SILVER, 1500),
        (5000, Tier.DIAMOND, 0),
    ],
)
def test_tiers_by_rolling_total(yuan: int, tier: Tier, ahead: int) -> None:
    assert tier_for(Money.yuan(yuan)).tier is tier
    upcoming = next_tier(Money.yuan(yuan))
    if ahead:
        assert upcoming is not None and upcoming[1] == Money.yuan(ahead)
    else:
        assert upcoming is None


def test_tier_multiplier_multiplies_points() -> None:
    assert evaluate([campaign(DOUBLE)], situation(100), tier_multiplier_percent=150).points == 300


@given(
    fen=st.integers(0, 10_000_000),
    basis_points=st.integers(0, 10_000),
    cap=st.one_of(st.none(), st.integers(0, 100_000)),
)
def test_cashback_is_never_more_than_its_percentage_or_cap(
    fen: int, basis_points: int, cap: int | None
) -> None:
    offer = Offer(
        "cb", OfferKind.CASHBACK, basis_points=basis_points, cap=None if cap is None else Money(cap)
    )
    quote = evaluate([campaign(offer)], situation(amount=Money(fen), base_points=fen // 100))
    assert 0 <= quote.cashback.fen <= fen * basis_points / 10_000
    if cap is not None:
        assert quote.cashback.fen <= cap
    assert quote.price == Money(fen)
