"""A staff refund from a support ticket, on SQLite and PostgreSQL: exactly once however many
presses arrive at once, two different staff members above the two-person threshold, the
customer told, and every staff action on a ticket in the audit trail."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import ActorKind, AuditAction
from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.risk import RiskRules
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services
from domain.services.ticket_refunds import RefundOutcome
from domain.tickets import Category

# The sandbox carrier fails every number ending in 0000.
FAILING = parse_phone_number("18600000000")
LI, WANG = 701, 702


@dataclass
class FlakyRefunds(SandboxPayments):
    """Refuses refunds while `refusing`; counts every refund it made."""

    refusing: bool = True
    made: list[int] = field(default_factory=list)

    async def refund(self, order: Order, reference: str | None) -> bool:
        await asyncio.sleep(0)  # another press may run meanwhile
        if self.refusing:
            return False
        self.made.append(order.id)
        return True


class World:
    def __init__(self, engine: AsyncEngine, two_person_fen: int = 0) -> None:
        self.now = datetime(2026, 11, 5, 4, 10, tzinfo=UTC)
        self.payments = FlakyRefunds()
        self.services: Services = build_services(
            UnitOfWorkFactory.of(engine),
            lambda: self.now,
            recharge=RechargeConfig(
                limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
                methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
            ),
            ports=Ports(
                SandboxGateway(timedelta(0), lambda: self.now),
                {PaymentMethod.SANDBOX: self.payments},
            ),
            risk=RiskRules(enabled=False, two_person_fen=two_person_fen),
        )

    async def failed_order_ticket(self, yuan: int = 50) -> tuple[int, Order]:
        """A customer's paid order the carrier failed, its refund refused by the provider so
        far, and the customer's ticket about it."""
        services = self.services
        turn = await services.customers.begin_turn(TelegramProfile(1), 1)
        customer = turn.customer
        products = await services.ordering.products(ProductKind.CREDIT)
        product = next(p for p in products if p.price == Money.yuan(yuan))
        order = await services.ordering.create_order(customer.id, 1, FAILING, product.id)
        paid = await services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
        assert paid.status is OrderStatus.FAILED
        ticket = await services.support.open_ticket(
            customer.id, 1, Category.TOPUP_MISSING, "no credit", order_id=order.id
        )
        self.payments.refusing = False
        return ticket.id, paid


async def _audited(services: Services, action: AuditAction) -> list[int]:
    return [r.entry.actor_id for r in await services.audit.recent() if r.entry.action is action]


async def test_presses_at_once_refund_the_order_once(engine: AsyncEngine) -> None:
    world = World(engine)
    ticket_id, order = await world.failed_order_ticket()
    refunds = world.services.ticket_refunds
    results = await asyncio.gather(*(refunds.refund(ticket_id, LI + n % 2, "Li") for n in range(8)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(RefundOutcome.REFUNDED) == 1
    # The others find it refunded, or its refund in hand with the provider.
    assert set(outcomes) - {RefundOutcome.REFUNDED} <= {
        RefundOutcome.ALREADY,
        RefundOutcome.UNDER_WAY,
    }
    assert world.payments.made == [order.id]
    after = await world.services.fulfilment.get(order.id)
    assert after.status is OrderStatus.REFUNDED
    [entry] = [
        r.entry
        for r in await world.services.audit.recent()
        if r.entry.action is AuditAction.TICKET_REFUNDED
    ]
    assert entry.subject == f"ticket:{ticket_id}" and entry.actor_kind is ActorKind.STAFF
    assert f"order={order.id}" in entry.detail
    # The customer is told by the outcome sweep.
    assert order.id in [o.id for o in await world.services.outcomes.unnotified_outcomes()]


async def test_a_large_refund_needs_a_second_different_staff_member(engine: AsyncEngine) -> None:
    world = World(engine, two_person_fen=Money.yuan(50).fen)
    ticket_id, order = await world.failed_order_ticket(50)
    refunds = world.services.ticket_refunds
    first = await refunds.refund(ticket_id, LI, "Li")
    assert (first.outcome, first.first_approver) == (RefundOutcome.AWAITING_SECOND, LI)
    again = await refunds.refund(ticket_id, LI, "Li")
    assert again.outcome is RefundOutcome.AWAITING_SECOND  # the same member does not count
    assert (await world.services.fulfilment.get(order.id)).status is OrderStatus.FAILED
    assert world.payments.made == []
    second = await refunds.refund(ticket_id, WANG, "Wang")
    assert (second.outcome, second.first_approver) == (RefundOutcome.REFUNDED, LI)
    assert world.payments.made == [order.id]
    assert await _audited(world.services, AuditAction.FIRST_APPROVAL) == [LI]
    assert await _audited(world.services, AuditAction.TICKET_REFUNDED) == [WANG]


async def test_a_refund_under_the_threshold_needs_one(engine: AsyncEngine) -> None:
    world = World(engine, two_person_fen=Money.yuan(100).fen)
    ticket_id, order = await world.failed_order_ticket(50)
    done = await world.services.ticket_refunds.refund(ticket_id, LI, "Li")
    assert done.outcome is RefundOutcome.REFUNDED and done.first_approver is None
    assert world.payments.made == [order.id]


async def test_staff_actions_on_a_ticket_are_in_the_audit_trail(engine: AsyncEngine) -> None:
    world = World(engine)
    support = world.services.support
    ticket_id, _ = await world.failed_order_ticket()
    await support.take(LI, ticket_id, "Li")
    await support.staff_reply(
        LI, ticket_id, "looking", source_chat_id=-100, source_message_id=5, staff_name="Li"
    )
    # The same message delivered twice is relayed, and recorded, once.
    assert (
        await support.staff_reply(
            LI, ticket_id, "looking", source_chat_id=-100, source_message_id=5, staff_name="Li"
        )
        is None
    )
    await support.resolve(LI, ticket_id, "Li")
    await support.reopen_by_staff(WANG, ticket_id, "Wang")
    records = [r.entry for r in reversed(await world.services.audit.recent())]
    ticket_records = [
        (e.action, e.actor_id, e.actor_name) for e in records if e.subject == f"ticket:{ticket_id}"
    ]
    assert ticket_records == [
        (AuditAction.TICKET_TAKEN, LI, "Li"),
        (AuditAction.TICKET_REPLIED, LI, "Li"),
        (AuditAction.TICKET_RESOLVED, LI, "Li"),
        (AuditAction.TICKET_REOPENED, WANG, "Wang"),
    ]
    # An unanswered ticket escalated by the sweep is recorded as the system's.
    waiting = await support.open_ticket(1, 1, Category.OTHER, "hello?")
    world.now += timedelta(days=1)
    assert [t.id for t in await support.escalate_due([LI])] == [waiting.id]
    [escalated] = [
        e
        for e in (r.entry for r in await world.services.audit.recent())
        if e.action is AuditAction.TICKET_ESCALATED
    ]
    assert (escalated.subject, escalated.actor_kind) == (f"ticket:{waiting.id}", ActorKind.SYSTEM)
