"""Every "at most N" and "only once" about money holds however many attempts arrive at once,
on SQLite and PostgreSQL: each is taken by a conditional write, never decided by a read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import parse_campaign_file
from domain.campaigns import OfferKind
from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import LimitExceeded, Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.services.loyalty import RedeemRefused
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services
from handlers.contract import Delivery, Reply
from scheduler.jobs import sweep_orders

NUMBER = parse_phone_number("18612345678")
TOP_UP_TAKES = timedelta(seconds=3)

CAMPAIGN = """
[[campaigns]]
code = "welcome"
name_zh = "首充有礼"
name_en = "Welcome"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00

[[campaigns.offers]]
code = "first"
kind = "first_recharge_bonus"
bonus_yuan = 5
bonus_points = 50

[[campaigns.offers]]
code = "double-twice"
kind = "points_multiplier"
multiplier = 2
per_customer = 2

[[rewards]]
code = "pack-1g"
kind = "coupon"
name_zh = "1GB"
name_en = "1GB"
cost_points = 10
per_customer = 3
value_yuan = 1
valid_days = 30
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self, engine: AsyncEngine, daily: Money) -> None:
        self.clock = Clock()
        self.services: Services = build_services(
            UnitOfWorkFactory.of(engine),
            self.clock,
            recharge=RechargeConfig(
                limits=RechargeLimits(Money(1), Money.yuan(1000), daily),
                methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
            ),
            ports=Ports(
                SandboxGateway(TOP_UP_TAKES, self.clock), {PaymentMethod.SANDBOX: SandboxPayments()}
            ),
        )

    async def customer(self, telegram_id: int = 1) -> Customer:
        turn = await self.services.customers.begin_turn(TelegramProfile(telegram_id), telegram_id)
        return turn.customer

    async def product_id(self, yuan: int) -> int:
        products = await self.services.ordering.products(ProductKind.CREDIT)
        return next(p for p in products if p.price == Money.yuan(yuan)).id

    async def order(self, customer: Customer, yuan: int) -> Order:
        product_id = await self.product_id(yuan)
        return await self.services.ordering.create_order(customer.id, 1, NUMBER, product_id)

    async def pay_all_at_once(self, customer: Customer, orders: list[Order]) -> list[Order]:
        """Every order paid at the same moment, then completed by the carrier."""
        await asyncio.gather(
            *(
                self.services.paying.pay_with_provider(customer.id, o.id, PaymentMethod.SANDBOX)
                for o in orders
            )
        )
        self.clock.now += TOP_UP_TAKES
        return list(await asyncio.gather(*(self.services.fulfilment.refresh(o.id) for o in orders)))


async def test_thirty_orders_at_once_keep_within_the_daily_limit(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money.yuan(1000))
    customer = await world.customer()
    product_id = await world.product_id(100)
    outcomes = await asyncio.gather(
        *(
            world.services.ordering.create_order(customer.id, 1, NUMBER, product_id)
            for _ in range(30)
        ),
        return_exceptions=True,
    )
    created = [o for o in outcomes if isinstance(o, Order)]
    refused = [o for o in outcomes if isinstance(o, LimitExceeded)]
    assert (len(created), len(refused)) == (10, 20)
    assert {error.reason for error in refused} == {"daily"}
    orders = await world.services.ordering.orders_of(customer.id, limit=50)
    assert sum(order.amount.fen for order in orders) == Money.yuan(1000).fen

    # Orders that lapse unpaid give their amounts back to the day's total.
    world.clock.now += timedelta(minutes=30)
    await world.services.fulfilment.expire_due()
    again = await asyncio.gather(
        *(
            world.services.ordering.create_order(customer.id, 1, NUMBER, product_id)
            for _ in range(11)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, Order) for o in again) == 10
    assert sum(isinstance(o, LimitExceeded) for o in again) == 1


async def test_a_daily_limit_beyond_a_32_bit_number_of_fen_holds_too(engine: AsyncEngine) -> None:
    world = World(engine, daily=Money(10**11))
    customer = await world.customer()
    order = await world.order(customer, 100)
    assert order.amount == Money.yuan(100)


async def test_a_first_recharge_bonus_goes_to_one_order_however_many_are_paid_at_once(
    engine: AsyncEngine,
) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    await world.services.campaigns.load(parse_campaign_file(CAMPAIGN))
    customer = await world.customer()
    orders = [await world.order(customer, 50) for _ in range(4)]
    assert all(_gets(order, OfferKind.FIRST_RECHARGE) for order in orders)  # as offered

    done = await world.pay_all_at_once(customer, orders)

    assert [order.status for order in done] == [OrderStatus.COMPLETED] * 4
    assert sum(_gets(order, OfferKind.FIRST_RECHARGE) for order in done) == 1
    assert await world.services.wallet.balance(customer.id) == Money.yuan(5)
    assert await world.services.wallet.ledger_balance(customer.id) == Money.yuan(5)
    balance, ledger = await world.services.loyalty.balance(customer.id)
    assert balance == ledger == sum(order.quote.points for order in done if order.quote)


async def test_an_offer_limited_per_customer_goes_to_that_many_orders_at_once(
    engine: AsyncEngine,
) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    await world.services.campaigns.load(parse_campaign_file(CAMPAIGN))
    customer = await world.customer()
    await world.pay_all_at_once(customer, [await world.order(customer, 30)])  # not new now
    orders = [await world.order(customer, 50) for _ in range(6)]

    done = await world.pay_all_at_once(customer, orders)

    doubled = [order for order in done if _gets(order, OfferKind.POINTS_MULTIPLIER)]
    assert len(doubled) == 1  # the first recharge took one of the two uses
    assert all(order.status is OrderStatus.COMPLETED for order in done)


async def test_a_reward_limited_per_customer_is_redeemed_that_many_times_at_once(
    engine: AsyncEngine,
) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    await world.services.campaigns.load(parse_campaign_file(CAMPAIGN))
    customer = await world.customer()
    await world.pay_all_at_once(customer, [await world.order(customer, 100)])
    reward = next(r for r in await world.services.rewards.rewards() if r.code == "pack-1g")

    outcomes = await asyncio.gather(
        *(world.services.rewards.redeem(customer.id, reward.id, f"tap-{n}") for n in range(8)),
        return_exceptions=True,
    )

    refused = [o for o in outcomes if isinstance(o, RedeemRefused)]
    assert len(outcomes) - len(refused) == 3
    assert {error.reason for error in refused} == {"limit"}
    balance, ledger = await world.services.loyalty.balance(customer.id)
    assert balance == ledger


def _gets(order: Order, kind: OfferKind) -> bool:
    return order.quote is not None and any(b.kind is kind for b in order.quote.benefits)


class Told:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.at: list[datetime] = []

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        self.at.append(self.clock.now)
        return Delivery.sent()


async def test_a_receipt_reaches_the_customer_within_seconds_of_a_three_second_top_up(
    engine: AsyncEngine,
) -> None:
    world = World(engine, daily=Money.yuan(100_000))
    customer = await world.customer()
    order = await world.order(customer, 50)
    paid_at = world.clock.now
    paying = await world.services.paying.pay_with_provider(
        customer.id, order.id, PaymentMethod.SANDBOX
    )
    assert paying.status is OrderStatus.TOPPING_UP  # the carrier takes 3 s
    told = Told(world.clock)
    while not told.at and world.clock.now - paid_at < timedelta(minutes=1):
        world.clock.now += timedelta(seconds=1)  # the order sweep runs every second
        await sweep_orders(world.services, told)
    assert told.at and told.at[0] - paid_at <= timedelta(seconds=5)
    assert (await world.services.ordering.get(order.id)).status is OrderStatus.COMPLETED
