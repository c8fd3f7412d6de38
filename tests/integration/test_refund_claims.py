"""A refund through the payment provider, on SQLite and PostgreSQL: claimed on the payment in a
short transaction, the provider asked with no transaction held, and refunded exactly once even
when the provider gives no answer (the claim is taken on again by the recovery sweep once it is
stale) or refuses (the claim is given up, so the next sweep asks again)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.repositories import PaymentRecord
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services

FAILING = parse_phone_number("18600000000")  # the sandbox carrier fails it
CLAIM_TIMEOUT = timedelta(minutes=10)


@dataclass
class Provider(SandboxPayments):
    """Answers each refund from `answers` in turn (then refunds): True refunds, False refuses,
    None gives no answer (raises, as a stop or a lost connection would)."""

    answers: list[bool | None] = field(default_factory=list)
    asked: list[int] = field(default_factory=list)
    made: list[int] = field(default_factory=list)

    async def refund(self, order: Order, reference: str | None) -> bool:
        self.asked.append(order.id)
        await asyncio.sleep(0)
        answer = self.answers.pop(0) if self.answers else True
        if answer is None:
            raise ConnectionError("provider went away")
        if answer:
            self.made.append(order.id)
        return answer


class World:
    def __init__(self, engine: AsyncEngine, answers: list[bool | None]) -> None:
        self.now = datetime(2026, 11, 5, 4, 10, tzinfo=UTC)
        self.units = UnitOfWorkFactory.of(engine)
        self.provider = Provider(answers=answers)
        self.services: Services = build_services(
            self.units,
            lambda: self.now,
            recharge=RechargeConfig(
                limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
                methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
                refund_claim_timeout=CLAIM_TIMEOUT,
            ),
            ports=Ports(
                SandboxGateway(timedelta(0), lambda: self.now),
                {PaymentMethod.SANDBOX: self.provider},
            ),
        )

    async def failed_order(self) -> Order:
        """A paid order the carrier failed; its refund tried at once (with the first answer)."""
        services = self.services
        customer = (await services.customers.begin_turn(TelegramProfile(1), 1)).customer
        products = await services.ordering.products(ProductKind.CREDIT)
        product = next(p for p in products if p.price == Money.yuan(50))
        order = await services.ordering.create_order(customer.id, 1, FAILING, product.id)
        await services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
        return order

    async def status(self, order: Order) -> OrderStatus:
        return (await self.services.fulfilment.get(order.id)).status

    async def payment(self, order: Order) -> PaymentRecord:
        async with self.units.read() as uow:
            payment = await uow.payments.of_order(order.id)
        assert payment is not None
        return payment


async def test_a_refund_cut_short_is_taken_on_again_once_its_claim_is_stale(
    engine: AsyncEngine,
) -> None:
    world = World(engine, answers=[None])
    order = await world.failed_order()
    assert world.provider.asked == [order.id] and world.provider.made == []
    assert await world.status(order) is OrderStatus.FAILED
    claimed_at = (await world.payment(order)).refund_claimed_at
    assert claimed_at == world.now
    world.now += CLAIM_TIMEOUT - timedelta(seconds=1)
    await world.services.paying.recover()  # still in hand: the provider is not asked again
    assert world.provider.asked == [order.id]
    world.now += timedelta(seconds=2)
    await world.services.paying.recover()  # stale: taken on again, refunded
    assert world.provider.asked == [order.id] * 2 and world.provider.made == [order.id]
    assert await world.status(order) is OrderStatus.REFUNDED
    payment = await world.payment(order)
    assert (payment.refunded_at, payment.refund_route) == (world.now, "provider")
    world.now += CLAIM_TIMEOUT * 2
    await world.services.paying.recover()
    refunded, done = await world.services.fulfilment.refund_once(order.id)
    assert (refunded.status, done) == (OrderStatus.REFUNDED, False)
    assert world.provider.made == [order.id] and len(world.provider.asked) == 2


async def test_a_refused_refund_gives_its_claim_up_for_the_next_sweep(engine: AsyncEngine) -> None:
    world = World(engine, answers=[False])
    order = await world.failed_order()
    assert world.provider.asked == [order.id] and world.provider.made == []
    assert (await world.payment(order)).refund_claimed_at is None
    await world.services.paying.recover()  # at once: no stale claim to wait for
    assert world.provider.asked == [order.id] * 2 and world.provider.made == [order.id]
    assert await world.status(order) is OrderStatus.REFUNDED
