"""A shop: every service built by `build_services` (as the bot builds them) on a unit of work
factory, the fake one for the service tests here (milliseconds a test), with an order's life,
loyalty and refunds at hand. Sandboxes stand in for the payment provider and the carrier
gateway."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.campaign_file import parse_campaign_file
from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.phone import PhoneNumber, parse_phone_number
from domain.repositories.services import ServicesUnitOfWorkFactory
from domain.risk import RiskRules
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, build_services
from tests.fakes.clock import ManualClock

NUMBER = parse_phone_number("18612345678")
# The sandbox carrier fails every number ending in 0000.
FAILING = parse_phone_number("18600000000")
# Inside the campaigns' window (1 to 11 November, Beijing), outside quiet hours.
OPENING = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)
RULES_OFF = RiskRules(enabled=False)

# The first N recharges earn double points; existing customers get ¥10 back per ¥100.
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

[[rewards]]
code = "data-1g"
kind = "data_pack"
name_zh = "1GB流量包（7天）"
name_en = "1 GB data (7 days)"
cost_points = 80
stock = 5
per_customer = 1
product = "data-1g-7d"
"""


@dataclass
class Refunds(SandboxPayments):
    """The sandbox provider, with every refund it made in order; it refuses refunds while
    `refusing`."""

    refusing: bool = False
    made: list[int] = field(default_factory=list)

    async def refund(self, order: Order, reference: str | None) -> bool:
        await asyncio.sleep(0)  # another press may run meanwhile
        if self.refusing:
            return False
        self.made.append(order.id)
        return True


class Shop:
    """Every service, built by `build_services` as the bot builds them, on `units`."""

    def __init__(
        self,
        units: ServicesUnitOfWorkFactory,
        gateway_delay: timedelta = timedelta(0),
        rules: RiskRules = RULES_OFF,
    ):
        self.units = units
        self.clock = ManualClock(OPENING)
        self.payments = Refunds()
        self.gateway = SandboxGateway(gateway_delay, self.clock)
        config = RechargeConfig(
            limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
            methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX, PaymentMethod.TELEGRAM),
        )
        self.services = build_services(
            units,
            self.clock,
            recharge=config,
            ports=Ports(self.gateway, {PaymentMethod.SANDBOX: self.payments}),
            risk=rules,
        )
        self.loyalty = self.services.loyalty
        self.fulfilment = self.services.fulfilment
        self.risk = self.services.risk
        self.paying = self.services.paying
        self.ordering = self.services.ordering
        self.outcomes = self.services.outcomes
        self.rewards = self.services.rewards
        self.coupons = self.services.coupons
        self.campaigns = self.services.campaigns
        self.customers = self.services.customers
        self.wallet = self.services.wallet
        self.support = self.services.support
        self.ticket_refunds = self.services.ticket_refunds

    async def load(self, quota: int = 3) -> None:
        await self.campaigns.load(parse_campaign_file(CAMPAIGN.format(quota=quota)))

    async def customer(self, telegram_id: int) -> Customer:
        turn = await self.customers.begin_turn(TelegramProfile(telegram_id), telegram_id)
        return turn.customer

    async def order(self, customer: Customer, yuan: int, number: PhoneNumber = NUMBER) -> Order:
        """A new order of `yuan` of call credit."""
        products = await self.ordering.products(ProductKind.CREDIT)
        product = next(p for p in products if p.price == Money.yuan(yuan))
        return await self.ordering.create_order(customer.id, 1, number, product.id)

    async def recharge(self, customer: Customer, yuan: int, number: PhoneNumber = NUMBER) -> Order:
        """An order of `yuan` of call credit, paid by the sandbox provider and carried on."""
        order = await self.order(customer, yuan, number)
        return await self.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)

    async def points(self, customer: Customer) -> int:
        balance, ledger = await self.loyalty.balance(customer.id)
        assert balance == ledger
        return balance

    async def used(self, code: str) -> int:
        """The slots of the live offer `code` taken."""
        live = {o.offer.code: o for o in await self.loyalty.live_offers()}
        offer = live[code]
        assert offer.slots_left is not None and offer.offer.quota is not None
        return offer.offer.quota - offer.slots_left

    async def told(self) -> list[int]:
        """Tell every customer how their orders ended, as the outcome sweep does: the orders."""
        told = []
        for order in await self.outcomes.unnotified_outcomes():
            if await self.outcomes.claim_outcome(order.id):
                await self.outcomes.outcome_told(order.id)
                told.append(order.id)
        return told


S = OrderStatus
