"""What each offer cost, by kind, and how many of a coupon offer's codes were used, on SQLite
and PostgreSQL: on a small hand-made data set with the answer worked out here, and from a
real recharge whose claims record their costs as they are made.

The period is the week of 1-8 December 2026 (UTC).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dashboard.exports import as_csv, as_xlsx
from bot.dashboard.pages import Scope, offers
from domain.campaign_file import parse_campaign_file
from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.figures import Period
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.languages import Language
from domain.money import Money
from domain.orders import OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.database import create_engine
from domain.persistence.migrate import upgrade
from domain.persistence.referral_tables import ReferralRewardRow, ReferralRow
from domain.persistence.tables import OfferClaimRow, OfferRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.services.dashboard_figures import CampaignChoice, DashboardFigures
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services
from handlers.i18n import texts
from tests.dashboard.data import add_campaign, add_customer, add_order, put


class Clock:
    now = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _services(engine: AsyncEngine, clock: Clock) -> Services:
    return build_services(
        UnitOfWorkFactory.of(engine),
        clock,
        recharge=RechargeConfig(
            limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
            methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
        ),
        ports=Ports(
            SandboxGateway(timedelta(0), clock), {PaymentMethod.SANDBOX: SandboxPayments()}
        ),
    )


WEEK = Period(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))


def day(d: int, hour: int = 10, month: int = 12) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=UTC)


async def _offer(engine: AsyncEngine, campaign: int, code: str, kind: str, **params: object) -> int:
    return await put(
        engine, OfferRow, campaign_id=campaign, code=code, kind=kind, params=params
    )  # fmt: skip


async def _old_offer(
    engine: AsyncEngine, campaign: int, code: str, kind: str, **params: object
) -> int:
    """An offer as the tables were before its counts moved to its shards (revision 0039)."""
    old_offers = sa.table(
        "offers",
        *(sa.column(name) for name in ("id", "campaign_id", "code", "kind", "used", "spent_fen")),
        sa.column("params", sa.JSON),
    )
    async with engine.begin() as connection:
        made = await connection.execute(
            old_offers.insert()
            .values(campaign_id=campaign, code=code, kind=kind, params=params, used=0, spent_fen=0)
            .returning(old_offers.c.id)
        )
        return int(made.scalar_one())


async def _claims(
    engine: AsyncEngine,
    offer: int,
    customer: int,
    claims: list[tuple[datetime, str, int, int, int, int]],
) -> None:
    """Each claim: (at, status, cash-back, of it red packet, bonus points, discount), on an
    order of its own."""
    for at, status, cashback, red, points, discount in claims:
        order = await add_order(engine, customer, 10_000, at)
        await put(
            engine, OfferClaimRow, offer_id=offer, order_id=order, customer_id=customer,
            cashback_fen=cashback, red_packet_fen=red, bonus_points=points,
            discount_fen=discount, status=status, at=at,
        )  # fmt: skip


async def _reward(
    engine: AsyncEngine, referral: int, customer: int, side: str, claimed: datetime | None
) -> None:
    await put(
        engine, ReferralRewardRow, referral_id=referral, customer_id=customer, side=side,
        kind="coupon", points=0, amount_fen=0, coupon_code="SAVE5",
        status="claimed" if claimed else "claimable", created_at=day(1, 0),
        claimed_at=claimed, notified=True,
    )  # fmt: skip


async def test_each_offer_costs_by_kind_and_its_coupons_redemption_rate(
    engine: AsyncEngine,
) -> None:
    a = await add_customer(engine, 1, day(20, month=11))
    friends = [await add_customer(engine, 10 + n, day(1, 1)) for n in range(3)]
    campaign = await add_campaign(engine, "y", day(1, 0), day(20, 0))
    packet = await _offer(engine, campaign, "y-packet", "threshold_red_packet", every=10_000)
    cash = await _offer(engine, campaign, "y-cash", "cashback_percent", basis_points=500)
    first = await _offer(engine, campaign, "y-first", "first_recharge_bonus", bonus_points=200)
    double = await _offer(engine, campaign, "y-double", "points_multiplier")
    coupon = await _offer(engine, campaign, "y-coupon", "coupon", coupon_code="SAVE5", discount=500)
    await _claims(
        engine,
        packet,
        a,
        [
            (day(2), "granted", 1_000, 1_000, 0, 0),
            (day(3), "granted", 500, 500, 0, 0),
            (day(30, month=11), "granted", 2_000, 2_000, 0, 0),  # before the week
            (day(4), "held", 700, 700, 0, 0),  # not completed: no cost yet
        ],
    )
    await _claims(
        engine, cash, a, [(day(2), "granted", 300, 0, 0, 0), (day(5), "granted", 200, 0, 0, 0)]
    )
    await _claims(engine, first, a, [(day(6), "granted", 500, 500, 200, 0)])
    await _claims(
        engine, double, a, [(day(2), "granted", 0, 0, 100, 0), (day(7), "granted", 0, 0, 50, 0)]
    )
    await _claims(
        engine,
        coupon,
        a,
        [(day(3), "granted", 0, 0, 0, 500), (day(4), "granted", 0, 0, 0, 500)],
    )
    # The coupon's code handed out as invitation rewards: 4 claimed in the week, one the week
    # before, one not claimed yet.
    referrals = [
        await put(
            engine,
            ReferralRow,
            inviter_id=a,
            friend_id=friend,
            status="qualified",
            joined_at=day(1, 2),
            alert_sent=False,
        )
        for friend in friends
    ]
    await _reward(engine, referrals[0], a, "inviter", day(3))
    await _reward(engine, referrals[0], friends[0], "friend", day(4))
    await _reward(engine, referrals[1], a, "inviter", day(5))
    await _reward(engine, referrals[1], friends[1], "friend", day(6))
    await _reward(engine, referrals[2], a, "inviter", day(30, month=11))
    await _reward(engine, referrals[2], friends[2], "friend", None)

    figures = DashboardFigures(UnitOfWorkFactory.of(engine), fen_per_100_points=150)
    found = {o.code: o for o in await figures.offers(WEEK, campaign)}
    got = {
        code: (
            o.claims,
            o.red_packet_fen,
            o.cash_back_fen,
            o.bonus_points,
            o.points_fen(150),
            o.discount_fen,
            o.cost_fen(150),
        )
        for code, o in found.items()
    }
    assert got == {
        # Two granted red packets in the week: ¥10 + ¥5.
        "y-packet": (2, 1_500, 0, 0, 0, 0, 1_500),
        # 5 % cash-back of two orders: ¥3 + ¥2.
        "y-cash": (2, 0, 500, 0, 0, 0, 500),
        # A ¥5 red packet and 200 points at ¥1.50 a hundred (¥3): ¥8.
        "y-first": (1, 500, 0, 200, 300, 0, 800),
        # 100 + 50 extra points at ¥1.50 a hundred: ¥2.25.
        "y-double": (2, 0, 0, 150, 225, 0, 225),
        # Two uses of the ¥5 coupon.
        "y-coupon": (2, 0, 0, 0, 0, 1_000, 1_000),
    }
    # The coupon's code was handed out 4 times in the week and used twice: 50 %.
    assert found["y-coupon"].coupons_issued == 4
    assert found["y-coupon"].redemption_rate == pytest.approx(0.5)
    assert found["y-packet"].coupons_issued is None and found["y-packet"].redemption_rate is None

    # The page and its exports show the same, in yuan, in both languages.
    services = _services(engine, Clock())
    services.figures.fen_per_100_points = 150
    choice = CampaignChoice(campaign, "y", "活动y", "Campaign y", day(1, 0), day(20, 0))
    for language, header in ((Language.ZH_CN, "核销率"), (Language.EN, "Redemption rate")):
        page = await offers(services, texts(language), Scope(WEEK, choice, ZoneInfo("UTC")))
        table = page.tables[0]
        assert header in table.headers
        rows = {row[0]: dict(zip(table.headers, row, strict=True)) for row in table.rows}
        coupon_row = rows["y-coupon"]
        assert coupon_row[header] == "50.0%"
        assert str(rows["y-first"][texts(language)("dashboard.cost")]) == "8.00"
        assert str(rows["y-double"][texts(language)("dashboard.cost.points_value")]) == "2.25"
        assert "1.50" in page.notes[0]
        csv_rows = list(csv.reader(io.StringIO(as_csv(table).decode("utf-8-sig"))))
        assert csv_rows[0] == table.headers
        coupon_csv = next(row for row in csv_rows if row[0] == "y-coupon")
        assert coupon_csv[table.headers.index(header)] == "50.0%"
        sheet = load_workbook(io.BytesIO(as_xlsx(table))).active
        assert sheet is not None
        first_xlsx = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "y-first")
        assert first_xlsx[table.headers.index(texts(language)("dashboard.cost"))] == 8


FESTIVAL = """
[[campaigns]]
code = "festival"
name_zh = "充值节"
name_en = "Festival"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00

[[campaigns.offers]]
code = "first"
kind = "first_recharge_bonus"
bonus_yuan = 5
bonus_points = 200

[[campaigns.offers]]
code = "double"
kind = "points_multiplier"
multiplier = 2

[[campaigns.offers]]
code = "every-100"
kind = "threshold_red_packet"
every_yuan = 100
returns_yuan = 10

[[campaigns.offers]]
code = "cash5"
kind = "cashback_percent"
percent = 5

[[campaigns.offers]]
code = "save5"
kind = "coupon"
coupon_code = "SAVE5"
discount_yuan = 5
"""


async def test_a_recharge_records_what_each_offer_it_took_costs(engine: AsyncEngine) -> None:
    services = _services(engine, Clock())
    await services.campaigns.load(parse_campaign_file(FESTIVAL))
    customer = (await services.customers.begin_turn(TelegramProfile(7), 7)).customer
    products = await services.ordering.products(ProductKind.CREDIT)
    product = next(p for p in products if p.price == Money.yuan(100))
    order = await services.ordering.create_order(
        customer.id, 7, parse_phone_number("18612345678"), product.id
    )
    order = await services.ordering.apply_coupon(customer.id, order.id, "save5")
    done = await services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
    assert done.status is OrderStatus.COMPLETED

    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                OfferRow.code,
                OfferClaimRow.cashback_fen,
                OfferClaimRow.red_packet_fen,
                OfferClaimRow.bonus_points,
                OfferClaimRow.discount_fen,
                OfferClaimRow.status,
            ).join(OfferRow, OfferRow.id == OfferClaimRow.offer_id)
        )
        claims = {row[0]: tuple(row[1:]) for row in rows}
    # ¥100 of call credit, the first recharge: 100 base points doubled (+100), the bonus's
    # ¥5 red packet and 200 points, a ¥10 red packet for the full ¥100, 5 % cash-back of the
    # ¥100 (¥5), and the coupon's ¥5 off the price.
    assert claims == {
        "first": (500, 500, 200, 0, "granted"),
        "double": (0, 0, 100, 0, "granted"),
        "every-100": (1_000, 1_000, 0, 0, "granted"),
        "cash5": (500, 0, 0, 0, "granted"),
        "save5": (0, 0, 0, 500, "granted"),
    }


async def test_the_migration_back_fills_what_earlier_claims_cost(tmp_path: Path) -> None:
    """Claims made before the costs were recorded: the wallet money of a red-packet offer is a
    red packet, a first-recharge offer's bonus points and a coupon's discount are the
    offer's own; a cash-back offer's money stays cash-back."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        await upgrade(engine, "0031_refund_claims")
        a = await add_customer(engine, 1, day(1))
        campaign = await add_campaign(engine, "y", day(1, 0), day(20, 0))
        offers_made = {
            "packet": await _old_offer(engine, campaign, "y-packet", "threshold_red_packet"),
            "cash": await _old_offer(engine, campaign, "y-cash", "cashback_percent"),
            "first": await _old_offer(
                engine, campaign, "y-first", "first_recharge_bonus", bonus=500, bonus_points=200
            ),
            "coupon": await _old_offer(
                engine, campaign, "y-coupon", "coupon", coupon_code="SAVE5", discount=500
            ),
        }
        old_claims = sa.table(
            "offer_claims",
            *(sa.column(name) for name in ("offer_id", "order_id", "customer_id")),
            *(sa.column(name) for name in ("cashback_fen", "status", "at")),
        )
        for name, cashback in (("packet", 1_000), ("cash", 300), ("first", 500), ("coupon", 0)):
            # The roll-ups of that revision are rebuilt by the later ones.
            order = await add_order(engine, a, 10_000, day(2))
            async with engine.begin() as connection:
                await connection.execute(
                    old_claims.insert().values(
                        offer_id=offers_made[name], order_id=order, customer_id=a,
                        cashback_fen=cashback, status="granted", at=day(2),
                    )
                )  # fmt: skip
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(
                    OfferRow.code,
                    OfferClaimRow.cashback_fen,
                    OfferClaimRow.red_packet_fen,
                    OfferClaimRow.bonus_points,
                    OfferClaimRow.discount_fen,
                ).join(OfferRow, OfferRow.id == OfferClaimRow.offer_id)
            )
            claims = {row[0]: tuple(row[1:]) for row in rows}
    finally:
        await engine.dispose()
    assert claims == {
        "y-packet": (1_000, 1_000, 0, 0),
        "y-cash": (300, 0, 0, 0),
        "y-first": (500, 500, 200, 0),
        "y-coupon": (0, 0, 0, 500),
    }
