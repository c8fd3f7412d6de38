"""Risk rules hold an order (or freeze an account) inside the order's own transaction, on
SQLite and PostgreSQL: however many orders arrive at once, only those within a limit pass."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import parse_campaign_file
from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxMode, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import PhoneNumber, parse_phone_number
from domain.risk import CaseStatus, Decision, RiskAction, RiskRule, RiskRules
from domain.services.campaign_catalogue import CampaignCatalogue
from domain.services.loyalty import RedeemRefused
from domain.services.recharge import CouponInvalid, CouponThrottled, PaymentDeclined, RechargeConfig
from domain.services.registry import Ports, Services, build_services
from domain.services.risk import AccountFrozen

NUMBER = parse_phone_number("18612345678")
STAFF = 777


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 4, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self, engine: AsyncEngine, rules: RiskRules, payments: SandboxPayments) -> None:
        self.clock = Clock()
        self.services: Services = build_services(
            UnitOfWorkFactory.of(engine),
            self.clock,
            recharge=RechargeConfig(
                limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
                methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
            ),
            ports=Ports(
                SandboxGateway(timedelta(0), self.clock), {PaymentMethod.SANDBOX: payments}
            ),
            risk=rules,
        )

    async def customer(self, telegram_id: int = 1) -> Customer:
        turn = await self.services.customers.begin_turn(TelegramProfile(telegram_id), telegram_id)
        return turn.customer

    async def product_id(self, yuan: int) -> int:
        products = await self.services.ordering.products(ProductKind.CREDIT)
        return next(p for p in products if p.price == Money.yuan(yuan)).id

    async def order(self, customer: Customer, yuan: int, number: PhoneNumber = NUMBER) -> Order:
        product_id = await self.product_id(yuan)
        return await self.services.ordering.create_order(customer.id, 1, number, product_id)


def world_of(
    engine: AsyncEngine, payments: SandboxPayments | None = None, **rules: object
) -> World:
    # Every rule off unless the test names it; accounts are old unless it says otherwise.
    values: dict[str, object] = {
        "orders_per_hour": 0,
        "orders_per_day": 0,
        "amount_per_hour_fen": 0,
        "numbers_per_day": 0,
        "declines_in_a_row": 0,
        "new_account_large_fen": 0,
        "accounts_per_number": 0,
        "coupon_guesses": 0,
    }
    values.update(rules)
    return World(engine, RiskRules(**values), payments or SandboxPayments())  # type: ignore[arg-type]


async def test_orders_at_once_cannot_all_slip_under_the_hourly_count(engine: AsyncEngine) -> None:
    world = world_of(engine, orders_per_hour=3)
    customer = await world.customer()
    product_id = await world.product_id(50)
    orders = await asyncio.gather(
        *(
            world.services.ordering.create_order(customer.id, 1, NUMBER, product_id)
            for _ in range(10)
        )
    )
    statuses = sorted(o.status for o in orders)
    assert statuses.count(OrderStatus.CREATED) == 3
    assert statuses.count(OrderStatus.HELD) == 7
    cases = await world.services.risk.pending(50)
    assert len(cases) == 7
    assert {c.rule for c in cases} == {RiskRule.ORDERS_PER_HOUR}
    assert {c.order_id for c in cases} == {o.id for o in orders if o.held}
    # A held order cannot be paid.
    held = next(o for o in orders if o.held)
    with pytest.raises(Exception) as refused:
        await world.services.paying.pay_with_provider(customer.id, held.id, PaymentMethod.SANDBOX)
    assert getattr(refused.value, "reason", None) == "not_payable"
    # The next hour counts again.
    world.clock.now += timedelta(hours=1)
    assert (await world.order(customer, 50)).status is OrderStatus.CREATED


async def test_amounts_at_once_cannot_pass_the_hourly_amount(engine: AsyncEngine) -> None:
    world = world_of(engine, amount_per_hour_fen=Money.yuan(200).fen)
    customer = await world.customer()
    product_id = await world.product_id(50)
    orders = await asyncio.gather(
        *(
            world.services.ordering.create_order(customer.id, 1, NUMBER, product_id)
            for _ in range(8)
        )
    )
    passed = [o for o in orders if o.status is OrderStatus.CREATED]
    assert sum(o.amount.fen for o in passed) == Money.yuan(200).fen
    assert sum(o.held for o in orders) == 4


async def test_a_new_number_over_the_daily_count_is_held_each_time(engine: AsyncEngine) -> None:
    world = world_of(engine, numbers_per_day=2)
    customer = await world.customer()
    first, second, third = (
        parse_phone_number(n) for n in ("13800000001", "13800000002", "13800000003")
    )
    assert (await world.order(customer, 50, first)).status is OrderStatus.CREATED
    assert (await world.order(customer, 50, second)).status is OrderStatus.CREATED
    assert (await world.order(customer, 50, third)).held
    assert (await world.order(customer, 50, first)).status is OrderStatus.CREATED
    assert (await world.order(customer, 50, third)).held  # still the third number of the day


async def test_a_new_account_ordering_a_large_amount_is_held(engine: AsyncEngine) -> None:
    world = world_of(engine, new_account_large_fen=Money.yuan(100).fen)
    customer = await world.customer()
    assert (await world.order(customer, 50)).status is OrderStatus.CREATED
    assert (await world.order(customer, 100)).held
    world.clock.now += timedelta(hours=1)
    assert (await world.order(customer, 100)).status is OrderStatus.CREATED


async def test_staff_release_once_and_the_order_can_be_paid(engine: AsyncEngine) -> None:
    world = world_of(engine, orders_per_hour=1)
    customer = await world.customer()
    await world.order(customer, 50)
    held = await world.order(customer, 50)
    [case] = await world.services.risk.pending()
    world.clock.now += timedelta(hours=2)  # longer than the payment window
    decided = await world.services.risk.decide(case.id, Decision.RELEASE, STAFF, "Li")
    assert decided is not None and decided.done
    assert decided.case.status is CaseStatus.RELEASED
    assert (decided.case.decided_by, decided.case.decided_by_name) == (STAFF, "Li")
    assert decided.case.decided_at == world.clock.now
    again = await world.services.risk.decide(case.id, Decision.REFUND, 778, "Wang")
    assert again is not None and not again.done
    assert again.case.decided_by == STAFF
    released = await world.services.paying.get(held.id)
    assert released.status is OrderStatus.CREATED
    assert released.expires_at > world.clock.now  # a fresh payment window
    paid = await world.services.paying.pay_with_provider(
        customer.id, held.id, PaymentMethod.SANDBOX
    )
    assert paid.status in (OrderStatus.TOPPING_UP, OrderStatus.COMPLETED)


async def test_staff_refuse_the_held_order(engine: AsyncEngine) -> None:
    world = world_of(engine, orders_per_hour=1)
    customer = await world.customer()
    await world.order(customer, 50)
    held = await world.order(customer, 50)
    [case] = await world.services.risk.pending()
    decided = await world.services.risk.decide(case.id, Decision.REFUND, STAFF, "Li")
    assert decided is not None and decided.case.status is CaseStatus.REFUNDED
    assert (await world.services.paying.get(held.id)).status is OrderStatus.EXPIRED
    assert await world.services.risk.pending() == []


async def test_a_freezing_rule_stops_orders_and_redemptions_until_released(
    engine: AsyncEngine,
) -> None:
    world = world_of(
        engine,
        orders_per_hour=1,
        actions={RiskRule.ORDERS_PER_HOUR: RiskAction.FREEZE},
    )
    customer = await world.customer()
    await world.order(customer, 50)
    held = await world.order(customer, 50)
    assert held.held
    assert await world.services.risk.is_frozen(customer.id)
    with pytest.raises(AccountFrozen):
        await world.order(customer, 50)
    with pytest.raises(AccountFrozen):
        await world.services.ordering.create_wallet_topup(customer.id, 1, Money.yuan(50))
    with pytest.raises(RedeemRefused) as refused:
        await world.services.rewards.redeem(customer.id, 1, "tap-1")
    assert refused.value.reason == "frozen"
    # Reading still works.
    assert len(await world.services.ordering.orders_of(customer.id)) == 2
    [case] = await world.services.risk.pending()
    kept = await world.services.risk.decide(case.id, Decision.KEEP_FROZEN, STAFF, "Li")
    assert kept is not None and kept.case.status is CaseStatus.KEPT_FROZEN
    assert (await world.services.paying.get(held.id)).status is OrderStatus.EXPIRED
    assert await world.services.risk.is_frozen(customer.id)
    released = await world.services.risk.decide(case.id, Decision.RELEASE, STAFF, "Li")
    assert released is not None and released.done
    assert not await world.services.risk.is_frozen(customer.id)
    world.clock.now += timedelta(hours=1)
    assert (await world.order(customer, 50)).status is OrderStatus.CREATED


async def test_declines_in_a_row_freeze_the_account(engine: AsyncEngine) -> None:
    payments = SandboxPayments(mode=SandboxMode.DECLINE)
    world = world_of(engine, payments, declines_in_a_row=3)
    customer = await world.customer()
    for _ in range(2):
        order = await world.order(customer, 50)
        with pytest.raises(PaymentDeclined):
            await world.services.paying.pay_with_provider(
                customer.id, order.id, PaymentMethod.SANDBOX
            )
    # A payment that goes through starts the count again.
    payments.mode = SandboxMode.APPROVE
    order = await world.order(customer, 50)
    await world.services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
    payments.mode = SandboxMode.DECLINE
    for attempt in range(3):
        order = await world.order(customer, 50)
        expected = AccountFrozen if attempt == 2 else PaymentDeclined
        with pytest.raises(expected):
            await world.services.paying.pay_with_provider(
                customer.id, order.id, PaymentMethod.SANDBOX
            )
    assert await world.services.risk.is_frozen(customer.id)
    [case] = await world.services.risk.pending()
    assert (case.rule, case.action) == (RiskRule.DECLINES_IN_A_ROW, RiskAction.FREEZE)


async def test_a_large_release_needs_two_different_staff_members(engine: AsyncEngine) -> None:
    world = world_of(engine, orders_per_hour=1, two_person_fen=Money.yuan(100).fen)
    customer = await world.customer()
    await world.order(customer, 50)
    held = await world.order(customer, 100)
    [case] = await world.services.risk.pending()
    first = await world.services.risk.decide(case.id, Decision.RELEASE, STAFF, "Li")
    assert first is not None and first.awaiting_second and not first.done
    assert (first.case.first_approver, first.case.first_approver_name) == (STAFF, "Li")
    again = await world.services.risk.decide(case.id, Decision.RELEASE, STAFF, "Li")
    assert again is not None and again.awaiting_second
    assert (await world.services.paying.get(held.id)).status is OrderStatus.HELD
    second = await world.services.risk.decide(case.id, Decision.RELEASE, 778, "Wang")
    assert second is not None and second.done
    assert (second.case.status, second.case.decided_by) == (CaseStatus.RELEASED, 778)
    assert (await world.services.paying.get(held.id)).status is OrderStatus.CREATED
    actions = [r.entry.action.value for r in await world.services.audit.recent()]
    assert actions[:2] == ["risk_released", "first_approval"]


async def test_a_small_release_or_a_refusal_needs_one(engine: AsyncEngine) -> None:
    world = world_of(engine, orders_per_hour=1, two_person_fen=Money.yuan(100).fen)
    customer = await world.customer()
    await world.order(customer, 50)
    await world.order(customer, 50)
    await world.order(customer, 100)
    small, large = await world.services.risk.pending()
    done = await world.services.risk.decide(small.id, Decision.RELEASE, STAFF, "Li")
    assert done is not None and done.done
    refused = await world.services.risk.decide(large.id, Decision.REFUND, STAFF, "Li")
    assert refused is not None and refused.done


async def test_accounts_at_once_cannot_all_slip_under_the_count_of_one_number(
    engine: AsyncEngine,
) -> None:
    world = world_of(engine, accounts_per_number=3)
    customers = [await world.customer(telegram_id) for telegram_id in range(1, 11)]
    product_id = await world.product_id(50)
    orders = await asyncio.gather(
        *(world.services.ordering.create_order(c.id, c.id, NUMBER, product_id) for c in customers)
    )
    passed = [o for o in orders if o.status is OrderStatus.CREATED]
    assert len(passed) == 3 and sum(o.held for o in orders) == 7
    cases = await world.services.risk.pending(50)
    assert {c.rule for c in cases} == {RiskRule.ACCOUNTS_PER_NUMBER} and len(cases) == 7
    by_customer = {o.id: c for o, c in zip(orders, customers, strict=True)}
    # An account counted today orders the number again; one held is held again.
    counted = by_customer[passed[0].id]
    assert (await world.order(counted, 50)).status is OrderStatus.CREATED
    held = by_customer[next(o for o in orders if o.held).id]
    assert (await world.order(held, 50)).held
    # Another number is not this number's count; the next day counts again.
    other = parse_phone_number("13900000000")
    assert (await world.order(held, 50, other)).status is OrderStatus.CREATED
    world.clock.now += timedelta(days=1)
    assert (await world.order(held, 50)).status is OrderStatus.CREATED


async def test_coupon_guesses_at_once_cannot_pass_the_limit(engine: AsyncEngine) -> None:
    world = world_of(engine, coupon_guesses=3)
    customer = await world.customer()
    orders = [await world.order(customer, 50) for _ in range(10)]
    tries = await asyncio.gather(
        *(
            world.services.ordering.apply_coupon(customer.id, o.id, f"GUESS{n}")
            for n, o in enumerate(orders)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(t, CouponInvalid | CouponThrottled) for t in tries), tries
    checked = [t for t in tries if isinstance(t, CouponInvalid)]
    closing = [t for t in tries if isinstance(t, CouponThrottled) and t.wrong]
    refused = [t for t in tries if isinstance(t, CouponThrottled) and not t.wrong]
    assert (len(checked), len(closing), len(refused)) == (2, 1, 7)
    assert closing[0].opens_at == datetime(2026, 11, 5, 4, 20, tzinfo=UTC)
    [case] = await world.services.risk.pending()
    assert (case.rule, case.action, case.order_id) == (
        RiskRule.COUPON_GUESSES,
        RiskAction.HOLD,
        None,
    )
    assert not await world.services.risk.is_frozen(customer.id)
    # Entry opens again when the window ends.
    world.clock.now += timedelta(minutes=10)
    fresh = await world.order(customer, 50)
    with pytest.raises(CouponInvalid):
        await world.services.ordering.apply_coupon(customer.id, fresh.id, "GUESS")


async def test_coupon_guesses_may_freeze_the_account(engine: AsyncEngine) -> None:
    world = world_of(engine, coupon_guesses=2, actions={RiskRule.COUPON_GUESSES: RiskAction.FREEZE})
    customer = await world.customer()
    order = await world.order(customer, 50)
    with pytest.raises(CouponInvalid):
        await world.services.ordering.apply_coupon(customer.id, order.id, "GUESS1")
    with pytest.raises(CouponThrottled) as closed:
        await world.services.ordering.apply_coupon(customer.id, order.id, "GUESS2")
    assert closed.value.wrong and closed.value.frozen
    assert await world.services.risk.is_frozen(customer.id)
    with pytest.raises(AccountFrozen):
        await world.order(customer, 50)


TIGHT_CAMPAIGN = """
[[campaigns]]
code = "tight"
name_zh = "充值节"
name_en = "Festival"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00

[campaigns.risk]
orders_per_hour = 2

[[campaigns.offers]]
code = "tight-double"
kind = "points_multiplier"
multiplier = 2
"""


async def test_a_campaign_file_tighter_limit_holds_its_orders_at_once(engine: AsyncEngine) -> None:
    world = world_of(engine, orders_per_hour=10)
    catalogue = CampaignCatalogue(UnitOfWorkFactory.of(engine), world.clock)
    await catalogue.load(parse_campaign_file(TIGHT_CAMPAIGN))
    customer = await world.customer()
    product_id = await world.product_id(50)
    orders = await asyncio.gather(
        *(
            world.services.ordering.create_order(customer.id, 1, NUMBER, product_id)
            for _ in range(5)
        )
    )
    assert all(o.quote is not None and o.quote.benefits for o in orders)
    assert sorted(o.status for o in orders).count(OrderStatus.CREATED) == 2
    cases = await world.services.risk.pending(50)
    assert [(c.rule, c.evidence) for c in cases] == [(RiskRule.ORDERS_PER_HOUR, "2")] * 3
    # An order on no campaign's offer is counted against the settings' limit alone.
    topup = await world.services.ordering.create_wallet_topup(customer.id, 1, Money.yuan(50))
    assert topup.status is OrderStatus.CREATED
