"""Offers, quotas, points and rewards on SQLite and PostgreSQL, concurrency included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import CampaignFileError, parse_campaign_file
from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.database import create_session_factory
from domain.persistence.tables import OfferRow, OrderRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import PhoneNumber, parse_phone_number
from domain.repositories import SlotClaim
from domain.services.loyalty import RedeemRefused
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services

S = OrderStatus
NUMBER = parse_phone_number("18612345678")
FAILING = parse_phone_number("18600000000")

CAMPAIGN = """
[[campaigns]]
code = "festival"
name_zh = "充值节"
name_en = "Festival"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00

[[campaigns.offers]]
code = "double"
kind = "points_multiplier"
multiplier = 2
quota = {quota}

[[campaigns]]
code = "loyal"
name_zh = "老用户返红包"
name_en = "Loyal"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00
audience = "existing_customers"

[[campaigns.offers]]
code = "every-100"
kind = "threshold_red_packet"
every_yuan = 100
returns_yuan = 10

[[rewards]]
code = "coupon-5"
kind = "coupon"
name_zh = "5元券"
name_en = "¥5 coupon"
cost_points = 100
stock = 2
per_customer = 1
value_yuan = 5
valid_days = 30
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Loyal:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.services: Services = build_services(
            UnitOfWorkFactory.of(engine),
            self.clock,
            recharge=RechargeConfig(
                limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
                methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
            ),
            ports=Ports(
                SandboxGateway(timedelta(0), self.clock), {PaymentMethod.SANDBOX: SandboxPayments()}
            ),
        )

    async def load(self, quota: int = 3) -> None:
        await self.services.campaigns.load(parse_campaign_file(CAMPAIGN.format(quota=quota)))

    async def customer(self, telegram_id: int) -> Customer:
        turn = await self.services.customers.begin_turn(TelegramProfile(telegram_id), telegram_id)
        return turn.customer

    async def order(self, customer: Customer, yuan: int, number: PhoneNumber = NUMBER) -> Order:
        """A new order of `yuan` of call credit."""
        products = await self.services.ordering.products(ProductKind.CREDIT)
        product = next(p for p in products if p.price == Money.yuan(yuan))
        return await self.services.ordering.create_order(customer.id, 1, number, product.id)

    async def recharge(
        self, customer: Customer, yuan: int, number: PhoneNumber = NUMBER
    ) -> OrderStatus:
        order = await self.order(customer, yuan, number)
        done = await self.services.paying.pay_with_provider(
            customer.id, order.id, PaymentMethod.SANDBOX
        )
        return done.status

    async def points(self, customer: Customer) -> int:
        balance, ledger = await self.services.loyalty.balance(customer.id)
        assert balance == ledger
        return balance

    async def used(self, code: str) -> int:
        async with self.engine.connect() as connection:
            return int(
                await connection.scalar(select(OfferRow.used).where(OfferRow.code == code)) or 0
            )


@pytest.fixture
async def loyal(engine: AsyncEngine) -> Loyal:
    world = Loyal(engine)
    await world.load()
    return world


async def test_the_first_recharges_get_double_points_until_the_quota_is_gone(loyal: Loyal) -> None:
    customers = [await loyal.customer(n) for n in range(1, 6)]
    for customer in customers:
        assert await loyal.recharge(customer, 50) is S.COMPLETED
    assert [await loyal.points(c) for c in customers] == [100, 100, 100, 50, 50]
    assert await loyal.used("double") == 3
    live = {o.offer.code: o for o in await loyal.services.loyalty.live_offers()}
    assert live["double"].slots_left == 0


async def test_a_failed_recharge_gives_its_slot_back(loyal: Loyal) -> None:
    first, second = await loyal.customer(1), await loyal.customer(2)
    assert await loyal.recharge(first, 50, FAILING) is S.REFUNDED
    assert await loyal.used("double") == 0 and await loyal.points(first) == 0
    assert await loyal.recharge(second, 50) is S.COMPLETED
    assert await loyal.used("double") == 1


async def test_a_paid_order_left_by_a_crash_claims_its_slot_once_however_many_carry_it_on(
    loyal: Loyal,
) -> None:
    customer = await loyal.customer(1)
    order = await loyal.order(customer, 50)
    # The process dies right after the payment was kept, before the order was carried on.
    async with UnitOfWorkFactory.of(loyal.engine)() as uow:
        assert await uow.orders.move(order.id, ["created"], "paid", "test", loyal.clock())
        await uow.commit()
    assert await loyal.used("double") == 0  # a slot is claimed only when carried on
    await asyncio.gather(
        loyal.services.paying.recover(),
        loyal.services.fulfilment.fulfil(order.id),
        loyal.services.fulfilment.fulfil(order.id),
    )
    assert (await loyal.services.ordering.get(order.id)).status is S.COMPLETED
    assert await loyal.used("double") == 1
    assert await loyal.points(customer) == 100  # 50 yuan, doubled, once


async def test_an_expired_order_never_held_a_slot_and_the_preview_agrees_with_the_grant(
    loyal: Loyal,
) -> None:
    customer = await loyal.customer(1)
    order = await loyal.order(customer, 100)
    assert order.quote is not None and order.quote.points == 200
    loyal.clock.now += timedelta(minutes=30)
    await loyal.services.fulfilment.expire_due()
    assert await loyal.used("double") == 0
    again = await loyal.order(customer, 100)
    done = await loyal.services.paying.pay_with_provider(
        customer.id, again.id, PaymentMethod.SANDBOX
    )
    assert done.quote == again.quote and await loyal.points(customer) == 200


async def test_existing_customers_get_a_red_packet_per_100_yuan_in_the_wallet(
    loyal: Loyal,
) -> None:
    customer = await loyal.customer(1)
    await loyal.recharge(customer, 20)  # now an existing customer
    assert await loyal.services.wallet.balance(customer.id) == Money(0)
    await loyal.recharge(customer, 200)
    assert await loyal.services.wallet.balance(customer.id) == Money.yuan(20)
    assert await loyal.services.wallet.ledger_balance(customer.id) == Money.yuan(20)


async def test_2000_concurrent_claims_on_100_slots_grant_exactly_100(engine: AsyncEngine) -> None:
    world = Loyal(engine)
    await world.load(quota=100)
    customer = await world.customer(1)
    now = world.clock()
    factory = create_session_factory(engine)
    async with factory() as session:
        session.add_all(
            OrderRow(
                customer_id=customer.id,
                purpose="recharge",
                status="paid",
                amount_fen=100,
                currency="CNY",
                created_at=now,
                expires_at=now,
                updated_at=now,
                outcome_notified=False,
            )
            for _ in range(2000)
        )
        await session.commit()
        order_ids = list((await session.execute(select(OrderRow.id))).scalars())
        offer_id = await session.scalar(select(OfferRow.id).where(OfferRow.code == "double"))
    uow = UnitOfWorkFactory(engine)
    assert offer_id is not None

    async def claim(order_id: int) -> bool:
        async with uow() as work:
            granted = await work.claims.claim(SlotClaim(offer_id, customer.id), order_id, now)
            await work.commit()
            return granted

    results = await asyncio.gather(*(claim(order_id) for order_id in order_ids))
    assert sum(results) == 100
    assert await world.used("double") == 100


async def test_concurrent_recharges_never_exceed_the_quota(engine: AsyncEngine) -> None:
    world = Loyal(engine)
    await world.load(quota=5)
    customers = [await world.customer(n) for n in range(1, 21)]
    statuses = await asyncio.gather(*(world.recharge(c, 10) for c in customers))
    assert set(statuses) == {S.COMPLETED}
    points = [await world.points(c) for c in customers]
    assert sorted(points) == [10] * 15 + [20] * 5
    assert await world.used("double") == 5


async def test_redeeming_is_atomic_limited_and_once_per_request(loyal: Loyal) -> None:
    rich, poor, third = await loyal.customer(1), await loyal.customer(2), await loyal.customer(3)
    await loyal.recharge(rich, 100)  # 200 points
    await loyal.recharge(third, 100)
    (coupon,) = await loyal.services.rewards.rewards()
    with pytest.raises(RedeemRefused) as refused:
        await loyal.services.rewards.redeem(poor.id, coupon.id, "r1")
    assert refused.value.reason == "not_enough_points"
    assert (await loyal.services.rewards.rewards())[0].left == 2  # stock untouched
    results = await asyncio.gather(
        *(loyal.services.rewards.redeem(rich.id, coupon.id, "tap-1") for _ in range(5)),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)]
    assert await loyal.points(rich) == 100
    with pytest.raises(RedeemRefused) as limited:
        await loyal.services.rewards.redeem(rich.id, coupon.id, "tap-2")
    assert limited.value.reason == "limit"
    await loyal.services.rewards.redeem(third.id, coupon.id, "t")
    assert (await loyal.services.rewards.rewards())[0].left == 0


async def test_points_lapse_oldest_first_at_the_end_of_the_twelfth_month(loyal: Loyal) -> None:
    customer = await loyal.customer(1)
    await loyal.recharge(customer, 100)  # 200 points, 2026-11-05
    loyal.clock.now = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    await loyal.recharge(customer, 50)  # 50 points... the double quota still holds: 100
    assert await loyal.points(customer) == 300
    (coupon,) = await loyal.services.rewards.rewards()
    await loyal.services.rewards.redeem(customer.id, coupon.id, "r")  # -100 from the oldest
    loyal.clock.now = datetime(2027, 11, 30, 15, 59, tzinfo=UTC)  # 23:59 Beijing, 30 Nov
    assert await loyal.services.loyalty.expire_points() == 0
    loyal.clock.now = datetime(2027, 11, 30, 16, 0, tzinfo=UTC)  # 1 Dec 00:00 Beijing
    assert await loyal.services.loyalty.expire_points() == 200
    assert await loyal.services.loyalty.expire_points() == 0  # run twice: nothing more
    assert await loyal.points(customer) == 0


async def test_loading_a_file_again_keeps_the_slots_taken(loyal: Loyal) -> None:
    await loyal.recharge(await loyal.customer(1), 10)
    await loyal.recharge(await loyal.customer(2), 10)
    await loyal.load(quota=3)
    assert await loyal.used("double") == 2
    with pytest.raises(CampaignFileError, match="below the 2 slots already taken"):
        await loyal.services.campaigns.load(parse_campaign_file(CAMPAIGN.format(quota=1)))
    live = {o.offer.code: o for o in await loyal.services.loyalty.live_offers()}
    assert live["double"].slots_left == 1  # nothing of the refused file was loaded


async def test_the_points_sweep_reads_only_customers_with_points_due(loyal: Loyal) -> None:
    lapsed, earning = await loyal.customer(1), await loyal.customer(2)
    await loyal.recharge(lapsed, 100)  # 200 points, lapsing 1 Dec 2027 (Beijing)
    loyal.clock.now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    await loyal.recharge(earning, 20)  # 20 points, lapsing 1 Jan 2028
    loyal.clock.now = datetime(2027, 12, 1, 4, 0, tzinfo=UTC)
    assert await loyal.services.loyalty.expire_points() == 200
    assert await loyal.points(lapsed) == 0

    async def looked_at() -> int:
        async with UnitOfWorkFactory.of(loyal.engine)() as uow:
            batch = await uow.points.lapse_due(loyal.clock(), 500)
            await uow.rollback()
        return batch.customers

    # The customer whose points lapsed is not read again; nobody else is due yet.
    assert await looked_at() == 0
    loyal.clock.now = datetime(2028, 1, 1, 4, 0, tzinfo=UTC)
    assert await looked_at() == 1  # only the customer whose points are now due
    assert await loyal.services.loyalty.expire_points() == 20
    assert await looked_at() == 0
    assert await loyal.points(earning) == 0 and await loyal.points(lapsed) == 0


async def test_points_lapsing_while_customers_redeem_are_taken_once(loyal: Loyal) -> None:
    customers = [await loyal.customer(n) for n in range(1, 9)]
    for customer in customers:
        await loyal.recharge(customer, 50)
    earned = sum([await loyal.points(c) for c in customers])
    loyal.clock.now = datetime(2027, 11, 30, 16, 0, tzinfo=UTC)  # every point lapses now
    (coupon,) = await loyal.services.rewards.rewards()

    async def redeem(customer: Customer) -> int:
        try:
            await loyal.services.rewards.redeem(customer.id, coupon.id, f"r{customer.id}")
        except RedeemRefused:
            return 0
        return coupon.cost_points

    lapsed, *spent = await asyncio.gather(
        loyal.services.loyalty.expire_points(), *(redeem(c) for c in customers)
    )
    # Every point was either spent or lapsed, none twice, and no balance went below zero.
    assert [await loyal.points(c) for c in customers] == [0] * len(customers)
    assert lapsed + sum(spent) == earned
