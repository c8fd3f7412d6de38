"""Every dashboard figure on a small hand-made data set, on SQLite and PostgreSQL, with the
answer worked out here from the rows put in.

The period is the week of 1-8 December 2026 (UTC); the week before is 24 Nov-1 Dec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.figures import Period
from domain.orders import OrderPurpose, OrderStatus
from domain.persistence.database import create_engine
from domain.persistence.referral_tables import ReferralRewardRow, ReferralRow
from domain.persistence.rollup_tables import OffersSeenRow
from domain.persistence.support_tables import TicketRow
from domain.persistence.tables import (
    OfferClaimRow,
    OfferRow,
    PaymentRow,
    PhoneBindingRow,
    PointsBalanceRow,
    PointsEntryRow,
)
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.dashboard_figures import DashboardFigures
from domain.tickets import Category
from tests.dashboard.data import add_campaign, add_customer, add_order, put, rebuild_rollups
from tests.offer_counts import set_taken

WEEK = Period(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))


def day(d: int, hour: int = 0, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, d, hour, minute, tzinfo=UTC)


@dataclass
class Shop:
    figures: DashboardFigures
    campaign: int
    customers: dict[str, int]


async def _bind(engine: AsyncEngine, customer: int, digits: str, at: datetime) -> None:
    await put(
        engine, PhoneBindingRow, customer_id=customer, digits=digits, carrier="unicom", bound_at=at
    )


async def _pay(engine: AsyncEngine, order: int, fen: int, at: datetime) -> None:
    await put(
        engine,
        PaymentRow,
        order_id=order,
        method="wallet",
        amount_fen=fen,
        currency="CNY",
        captured_at=at,
    )


async def _fill(engine: AsyncEngine) -> Shop:
    """Customers A-E, their numbers, orders, one campaign with two offers, points, referrals
    and tickets (see each test for what counts)."""
    a = await add_customer(engine, 1, day(20, month=11), seen=day(3))
    b = await add_customer(engine, 2, day(2, 9))
    c = await add_customer(engine, 3, day(5, 9), seen=day(6))
    d = await add_customer(engine, 4, day(6, 9))
    e = await add_customer(engine, 5, day(25, month=11), seen=day(26, month=11))
    await _bind(engine, a, "18600000001", day(20, month=11))
    await _bind(engine, b, "18600000002", day(2, 9, 5))
    await _bind(engine, c, "18600000003", day(5, 9, 5))
    await _bind(engine, c, "18600000013", day(6, 9, 5))

    a1 = await add_order(engine, a, 10_000, day(3, 10))
    a2 = await add_order(engine, a, 5_000, day(4, 9))
    b1 = await add_order(engine, b, 3_000, day(2, 12))
    b2 = await add_order(engine, b, 1_000, day(7, 8))
    await add_order(engine, b, 2_000, day(2, 13), OrderStatus.EXPIRED)
    c1 = await add_order(engine, c, 2_000, day(5, 10))
    c2 = await add_order(engine, c, 1_000, day(5, 11), OrderStatus.AWAITING_PAYMENT)
    await add_order(engine, d, 50_000, day(6, 10), purpose=OrderPurpose.WALLET_TOPUP)
    await add_order(engine, e, 4_000, day(25, 10, month=11))
    await add_order(engine, e, 6_000, day(26, 10, month=11))
    for order, fen, at in ((a1, 10_000, day(3, 10)), (a2, 5_000, day(4, 9))):
        await _pay(engine, order, fen, at)
    for order, fen, at in (
        (b1, 3_000, day(2, 12)),
        (b2, 1_000, day(7, 8)),
        (c1, 2_000, day(5, 10)),
    ):
        await _pay(engine, order, fen, at)

    campaign = await add_campaign(engine, "x", day(1), day(8))
    first_three = await put(
        engine, OfferRow, campaign_id=campaign, code="x-first3", kind="cashback", params={},
        quota=3,
    )  # fmt: skip
    open_offer = await put(
        engine, OfferRow, campaign_id=campaign, code="x-open", kind="discount", params={}
    )  # fmt: skip
    async with engine.begin() as connection:
        await set_taken(connection, 3, 800, first_three)
        await set_taken(connection, 1, 0, open_offer)
    for order, customer, fen, at in (
        (b1, b, 300, day(2, 12)),
        (a1, a, 500, day(3, 10)),
        (c1, c, 0, day(5, 10)),
    ):
        await put(
            engine,
            OfferClaimRow,
            offer_id=first_three,
            order_id=order,
            customer_id=customer,
            cashback_fen=fen,
            status="granted",
            at=at,
        )
    await put(
        engine,
        OfferClaimRow,
        offer_id=open_offer,
        order_id=c2,
        customer_id=c,
        cashback_fen=0,
        status="held",
        at=day(5, 11),
    )

    for key, customer, points, kind, at in (
        ("e-before", e, 40, "earn", day(25, month=11)),
        ("a-earn", a, 100, "earn", day(3, 10)),
        ("b-earn", b, 30, "earn", day(2, 12)),
        ("a-redeem", a, -50, "redeem", day(4, 12)),
        ("e-expire", e, -20, "expire", day(1, 1)),
    ):
        await put(
            engine,
            PointsEntryRow,
            customer_id=customer,
            points=points,
            kind=kind,
            idempotency_key=key,
            note="",
            at=at,
        )
    for customer, points in ((a, 50), (b, 30), (e, 20)):
        await put(engine, PointsBalanceRow, customer_id=customer, points=points)

    ab = await put(
        engine, ReferralRow, inviter_id=a, friend_id=b, status="qualified", joined_at=day(2, 9),
        campaign_code="x", qualified_at=day(2, 12), alert_sent=False,
    )  # fmt: skip
    await put(
        engine, ReferralRow, inviter_id=a, friend_id=c, status="held", joined_at=day(5, 9),
        campaign_code="x", alert_sent=False,
    )  # fmt: skip
    await put(
        engine, ReferralRow, inviter_id=e, friend_id=d, status="joined", joined_at=day(6, 9),
        alert_sent=False,
    )  # fmt: skip
    await put(
        engine, ReferralRewardRow, referral_id=ab, customer_id=a, side="inviter", kind="points",
        points=50, amount_fen=0, status="claimed", created_at=day(2, 12), claimed_at=day(3, 9),
        notified=True,
    )  # fmt: skip

    def ticket(
        customer: int,
        category: Category,
        created: datetime,
        answered: datetime | None = None,
        escalated: datetime | None = None,
        csat: int | None = None,
    ) -> dict[str, object]:
        return dict(
            customer_id=customer,
            chat_id=customer,
            category=category.value,
            priority="normal",
            status="open",
            created_at=created,
            updated_at=created,
            first_response_at=answered,
            escalated_at=escalated,
            csat=csat,
        )

    await put(engine, TicketRow, **ticket(a, Category.PAYMENT, day(2, 10), day(2, 10, 10), None, 5))
    await put(
        engine,
        TicketRow,
        **ticket(b, Category.PAYMENT, day(3, 10), day(3, 10, 50), day(3, 10, 30), 3),
    )
    await put(engine, TicketRow, **ticket(c, Category.OTHER, day(4, 10), None, day(4, 10, 30)))
    await put(engine, TicketRow, **ticket(e, Category.OTHER, day(30, 10, month=11)))
    # A (not of the week's starters), B and C saw the campaign's offers; D never did.
    for customer, at in ((a, day(3, 9)), (b, day(2, 11)), (c, day(5, 9, 30))):
        await put(engine, OffersSeenRow, campaign_id=campaign, customer_id=customer, at=at)
    await rebuild_rollups(engine)
    return Shop(
        DashboardFigures(UnitOfWorkFactory.of(engine)),
        campaign,
        {"a": a, "b": b, "c": c, "d": d, "e": e},
    )


@pytest.fixture
async def shop(database_url: str) -> AsyncIterator[Shop]:
    engine = create_engine(database_url)
    try:
        yield await _fill(engine)
    finally:
        await engine.dispose()


async def test_overview_of_the_whole_shop(shop: Shop) -> None:
    overview = await shop.figures.overview(WEEK)
    # Seen in the week: A (first came in November), B, C, D; E was last seen in November.
    assert (overview.reached, overview.started, overview.bound) == (4, 3, 2)
    # Completed recharges: A 100 + 50, B 30 + 10, C 20 (not B's expired one, C's unpaid one or
    # D's wallet top-up).
    sales = overview.sales
    assert (sales.recharges, sales.fen) == (5, 21_000)
    assert (sales.paying_customers, sales.repeat_customers) == (3, 2)
    assert sales.arpu_fen == 7_000  # 210 yuan / 3 customers
    assert sales.repeat_rate == pytest.approx(2 / 3)
    assert overview.participation_rate == pytest.approx(3 / 4)
    # The week before: E's 40 + 60.
    before = overview.sales_before
    assert (before.recharges, before.fen, before.paying_customers) == (2, 10_000, 1)
    assert [(h.hour, h.count, h.fen) for h in overview.by_hour] == [
        (day(2, 12), 1, 3_000),
        (day(3, 10), 1, 10_000),
        (day(4, 9), 1, 5_000),
        (day(5, 10), 1, 2_000),
        (day(7, 8), 1, 1_000),
    ]
    assert [h.hour for h in overview.by_hour_before] == [
        day(25, 10, month=11),
        day(26, 10, month=11),
    ]


async def test_overview_of_one_campaign_counts_the_orders_that_took_its_offers(
    shop: Shop,
) -> None:
    sales = (await shop.figures.overview(WEEK, shop.campaign)).sales
    # B's first (30), A's first (100), C's (20); C's unpaid order held the open offer only.
    assert (sales.recharges, sales.fen, sales.paying_customers) == (3, 15_000, 3)
    assert sales.repeat_customers == 0
    assert sales.arpu_fen == 5_000


async def test_arpu_rounds_half_fen_up() -> None:
    from domain.figures import Sales

    assert Sales(3, 20_000, 3, 0).arpu_fen == 6_667  # 66.666… yuan
    assert Sales(2, 1, 2, 0).arpu_fen == 1  # half a fen each: up
    assert Sales(0, 0, 0, 0).arpu_fen is None


async def test_funnel_of_the_customers_who_started_in_the_week(shop: Shop) -> None:
    funnel = await shop.figures.funnel(WEEK)
    # B, C, D started; B and C bound a number, saw the offers, ordered, paid and completed;
    # B twice.
    assert [(s.key, s.customers) for s in funnel.steps] == [
        ("started", 3),
        ("bound", 2),
        ("saw_offers", 2),
        ("ordered", 2),
        ("paid", 2),
        ("completed", 2),
        ("again", 1),
    ]
    drops = funnel.drops()
    assert drops[0] is None and drops[1] == pytest.approx(1 / 3) and drops[6] == 0.5


async def test_funnel_of_one_campaign_follows_the_orders_that_took_its_offers(
    shop: Shop,
) -> None:
    funnel = await shop.figures.funnel(WEEK, shop.campaign)
    # B's first order and C's two (one paid and completed, one unpaid holding a slot) took the
    # campaign's offers; B's second order did not, so nobody recharged again with it. B and C
    # saw its offers.
    assert [s.customers for s in funnel.steps] == [3, 2, 2, 2, 2, 2, 0]


async def test_offers_burn_down_and_sell_out(shop: Shop) -> None:
    first_three, open_offer = await shop.figures.offers(WEEK, shop.campaign)
    assert (first_three.code, first_three.quota, first_three.used) == ("x-first3", 3, 3)
    assert (first_three.claims, first_three.cashback_fen) == (3, 800)
    # The third slot went with C's order on 5 December at 10:00.
    assert first_three.sold_out_at == day(5, 10)
    assert first_three.burn_down == [(day(2, 12), 2), (day(3, 10), 1), (day(5, 10), 0)]
    # The open offer: one slot held by an unpaid order, none granted, no quota to burn.
    assert (open_offer.claims, open_offer.sold_out_at, open_offer.burn_down) == (0, None, [])


async def test_points_earned_redeemed_lapsed_and_owed(shop: Shop) -> None:
    points = await shop.figures.points(WEEK)
    # Earned in the week: A 100 + B 30 (E's 40 was in November); A redeemed 50; E's 20 lapsed.
    assert (points.earned, points.redeemed, points.lapsed) == (130, 50, 20)
    assert points.liability == 50 + 30 + 20


async def test_referrals_and_the_k_factor(shop: Shop) -> None:
    overall = await shop.figures.referrals(WEEK)
    # A invited B (qualified) and C (held); E invited D: 3 invites by 2 inviters, 1 qualified.
    assert (overall.inviters, overall.joined, overall.qualified, overall.held) == (2, 3, 1, 1)
    assert overall.k_factor == pytest.approx(3 / 2 * 1 / 3)
    assert overall.rewards_claimed == 1
    campaign = await shop.figures.referrals(WEEK, "x")
    assert (campaign.inviters, campaign.joined) == (1, 2)
    assert campaign.k_factor == pytest.approx(2 / 1 * 1 / 2)


async def test_support_response_times_satisfaction_and_sla_breaches(shop: Shop) -> None:
    support = await shop.figures.support(WEEK)
    stats = support.stats
    # Three tickets in the week (E's was in November); answered after 10 and 50 minutes.
    assert stats.tickets == 3
    assert stats.first_response_avg == timedelta(minutes=30)
    assert stats.first_response_p90 == timedelta(minutes=50)  # nearest rank: 2nd of 2
    assert stats.csat_avg == 4.0 and stats.csat_count == 2
    assert stats.by_category == {Category.PAYMENT: 2, Category.OTHER: 1}
    assert support.sla_breaches == 2
