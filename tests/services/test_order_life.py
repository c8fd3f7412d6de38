"""An order's life on the fake unit of work: ordering, paying, fulfilment and telling the
outcome of recharges under a campaign (double points for the first N, a red packet per ¥100 for
existing customers), points redeemed for a coupon and a data pack, points lapsing, and refunds.
The same rules are proven on both databases, races included (`tests/integration/`); here they
run in milliseconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from domain.money import Money
from domain.orders import OrderPurpose, PaymentMethod
from domain.repositories.services import ServicesUnitOfWorkFactory
from domain.services.loyalty import RedeemRefused
from domain.services.recharge import invoice_payload
from domain.services.ticket_refunds import RefundOutcome
from domain.tickets import Category
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.services.shop import FAILING, NUMBER, S, Shop


@pytest.fixture
def units() -> ServicesUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
async def shop(units: ServicesUnitOfWorkFactory) -> Shop:
    opened = Shop(units)
    await opened.load()
    return opened


async def test_the_first_recharges_get_double_points_and_each_customer_is_told_once(
    shop: Shop,
) -> None:
    customers = [await shop.customer(n) for n in range(1, 6)]
    orders = [await shop.recharge(c, 50) for c in customers]
    assert {o.status for o in orders} == {S.COMPLETED}
    assert [await shop.points(c) for c in customers] == [100, 100, 100, 50, 50]
    assert await shop.used("double") == 3
    assert await shop.ordering.history(orders[0].id) == [
        (None, "created", "customer"),
        ("created", "awaiting_payment", "pay by sandbox"),
        ("awaiting_payment", "paid", "sandbox payment"),
        ("paid", "topping_up", "sent to carrier"),
        ("topping_up", "completed", "carrier completed"),
    ]
    assert sorted(await shop.told()) == sorted(o.id for o in orders)
    assert await shop.told() == []  # each outcome told once


async def test_recharges_at_once_never_take_more_than_the_quota(
    units: ServicesUnitOfWorkFactory,
) -> None:
    shop = Shop(units)
    await shop.load(quota=5)
    customers = [await shop.customer(n) for n in range(1, 21)]
    done = await asyncio.gather(*(shop.recharge(c, 10) for c in customers))
    assert {o.status for o in done} == {S.COMPLETED}
    assert sorted([await shop.points(c) for c in customers]) == [10] * 15 + [20] * 5
    assert await shop.used("double") == 5


async def test_an_existing_customer_gets_a_red_packet_per_100_yuan_in_the_wallet(
    shop: Shop,
) -> None:
    customer = await shop.customer(1)
    await shop.recharge(customer, 20)  # now an existing customer
    assert await shop.wallet.balance(customer.id) == Money(0)
    order = await shop.recharge(customer, 200)
    assert order.quote is not None and order.quote.points == 400  # still among the first 3
    assert await shop.wallet.balance(customer.id) == Money.yuan(20)
    assert await shop.wallet.ledger_balance(customer.id) == Money.yuan(20)
    assert await shop.points(customer) == 440


async def test_a_failed_top_up_is_refunded_and_gives_its_slot_back(shop: Shop) -> None:
    first, second = await shop.customer(1), await shop.customer(2)
    failed = await shop.recharge(first, 50, FAILING)
    assert failed.status is S.REFUNDED
    assert shop.payments.made == [failed.id]
    assert await shop.used("double") == 0 and await shop.points(first) == 0
    assert await shop.told() == [failed.id]  # told of the refund
    assert (await shop.recharge(second, 50)).status is S.COMPLETED
    assert await shop.used("double") == 1 and await shop.points(second) == 100


async def test_a_wallet_recharge_failed_by_the_carrier_goes_back_to_the_wallet(
    shop: Shop,
) -> None:
    customer = await shop.customer(1)
    top_up = await shop.ordering.create_wallet_topup(customer.id, 1, Money.yuan(100))
    funded = await shop.paying.pay_with_provider(customer.id, top_up.id, PaymentMethod.SANDBOX)
    assert funded.status is S.COMPLETED
    order = await shop.order(customer, 50, FAILING)
    refunded = await shop.paying.pay_with_wallet(customer.id, order.id)
    assert refunded.status is S.REFUNDED
    assert shop.payments.made == []  # refunded into the wallet, not through the provider
    assert await shop.wallet.balance(customer.id) == Money.yuan(100)
    assert await shop.wallet.ledger_balance(customer.id) == Money.yuan(100)
    paid = await shop.paying.pay_with_wallet(customer.id, (await shop.order(customer, 50)).id)
    assert paid.status is S.COMPLETED
    assert await shop.wallet.balance(customer.id) == Money.yuan(50)


async def test_presses_at_once_on_a_tickets_refund_refund_once(shop: Shop) -> None:
    customer = await shop.customer(1)
    shop.payments.refusing = True
    failed = await shop.recharge(customer, 50, FAILING)
    assert failed.status is S.FAILED  # the carrier failed it; the provider refused the refund
    ticket = await shop.support.open_ticket(
        customer.id, 1, Category.TOPUP_MISSING, "no credit", order_id=failed.id
    )
    shop.payments.refusing = False
    presses = await asyncio.gather(
        *(shop.ticket_refunds.refund(ticket.id, 700 + n % 2, "Li") for n in range(6))
    )
    outcomes = [p.outcome for p in presses]
    assert outcomes.count(RefundOutcome.REFUNDED) == 1
    assert set(outcomes) - {RefundOutcome.REFUNDED} <= {
        RefundOutcome.ALREADY,
        RefundOutcome.UNDER_WAY,
    }
    assert shop.payments.made == [failed.id]
    assert (await shop.fulfilment.get(failed.id)).status is S.REFUNDED
    assert await shop.used("double") == 0
    assert await shop.told() == [failed.id]


async def test_points_redeemed_for_a_coupon_take_it_off_the_next_recharge(shop: Shop) -> None:
    rich, poor = await shop.customer(1), await shop.customer(2)
    await shop.recharge(rich, 100)  # 200 points, doubled
    pack, coupon = await shop.rewards.rewards()  # the cheapest first
    assert (pack.code, coupon.code, coupon.left) == ("data-1g", "coupon-5", 2)
    with pytest.raises(RedeemRefused) as refused:
        await shop.rewards.redeem(poor.id, coupon.id, "r1")
    assert refused.value.reason == "not_enough_points"
    taps = await asyncio.gather(
        *(shop.rewards.redeem(rich.id, coupon.id, "tap-1") for _ in range(5)),
        return_exceptions=True,
    )
    assert not [t for t in taps if isinstance(t, BaseException)]
    assert await shop.points(rich) == 100  # redeemed once
    with pytest.raises(RedeemRefused) as limited:
        await shop.rewards.redeem(rich.id, coupon.id, "tap-2")
    assert limited.value.reason == "limit"
    [mine] = await shop.rewards.coupons(rich.id)
    order = await shop.order(rich, 50)
    fitting = await shop.coupons.fitting(rich.id, order.id)
    assert fitting is not None and fitting.id == mine.id
    priced = await shop.coupons.use(rich.id, order.id, mine.id)
    assert priced.amount == Money.yuan(45)
    paid = await shop.paying.pay_with_provider(rich.id, order.id, PaymentMethod.SANDBOX)
    assert paid.status is S.COMPLETED and await shop.rewards.coupons(rich.id) == []


async def test_a_redeemed_data_pack_is_topped_up_and_a_failed_one_gives_the_points_back(
    shop: Shop,
) -> None:
    customer = await shop.customer(1)
    await shop.recharge(customer, 50)  # 100 points
    pack = next(r for r in await shop.rewards.rewards() if r.code == "data-1g")
    with pytest.raises(RedeemRefused) as refused:
        await shop.rewards.redeem(customer.id, pack.id, "no-number")
    assert refused.value.reason == "number_needed"
    failing = await shop.rewards.redeem(customer.id, pack.id, "t1", number=FAILING, chat_id=1)
    assert failing.order_id is not None and await shop.points(customer) == 20
    failed = await shop.fulfilment.fulfil(failing.order_id)
    assert failed.status is S.REFUNDED and await shop.points(customer) == 100
    redeemed = await shop.rewards.redeem(customer.id, pack.id, "t2", number=NUMBER, chat_id=1)
    again = await shop.rewards.redeem(customer.id, pack.id, "t2", number=NUMBER, chat_id=1)
    assert redeemed.order_id is not None and again.order_id == redeemed.order_id
    order = await shop.fulfilment.fulfil(redeemed.order_id)
    assert (order.purpose, order.payment_method, order.amount) == (
        OrderPurpose.REWARD,
        PaymentMethod.POINTS,
        Money(0),
    )
    assert order.status is S.COMPLETED and order.phone_digits == NUMBER.digits
    assert await shop.points(customer) == 20
    assert order.id in await shop.told()  # a receipt


async def test_points_lapse_oldest_first_at_the_end_of_the_twelfth_month(shop: Shop) -> None:
    customer = await shop.customer(1)
    await shop.recharge(customer, 100)  # 200 points, 5 November
    shop.clock.now = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    await shop.recharge(customer, 50)  # doubled: 100
    coupon = next(r for r in await shop.rewards.rewards() if r.code == "coupon-5")
    await shop.rewards.redeem(customer.id, coupon.id, "r")  # -100, from the oldest
    assert await shop.points(customer) == 200
    shop.clock.now = datetime(2027, 11, 30, 15, 59, tzinfo=UTC)  # 23:59 Beijing, 30 November
    assert await shop.loyalty.expire_points() == 0
    shop.clock.now = datetime(2027, 11, 30, 16, 0, tzinfo=UTC)  # 1 December, Beijing
    assert await shop.loyalty.expire_points() == 200
    assert await shop.loyalty.expire_points() == 0
    assert await shop.points(customer) == 0


async def test_a_telegram_payment_delivered_again_settles_once_and_unpaid_orders_expire(
    shop: Shop,
) -> None:
    customer = await shop.customer(1)
    order = await shop.order(customer, 20)
    await shop.paying.start_invoice(customer.id, order.id)
    payload = invoice_payload(order)
    assert await shop.paying.check_pre_checkout(customer.id, payload, "CNY", 2000) is None

    async def deliver() -> object:
        return await shop.paying.settle_telegram_payment(
            customer.id, payload, "CNY", 2000, "tg-charge-1", "prov-1"
        )

    await asyncio.gather(*(deliver() for _ in range(5)), return_exceptions=True)
    await deliver()  # a replay later
    assert (await shop.ordering.get(order.id)).status is S.COMPLETED
    assert shop.gateway.submit_calls == 1 and await shop.points(customer) == 40
    assert await shop.wallet.balance(customer.id) == Money(0)  # nothing credited "late"
    unpaid = await shop.order(customer, 30)
    shop.clock.advance(minutes=30)
    assert [o.id for o in await shop.fulfilment.expire_due()] == [unpaid.id]
    assert await shop.fulfilment.expire_due() == []
    assert await shop.used("double") == 1  # an expired order never held a slot


async def test_a_large_refund_waits_for_a_second_staff_member(shop: Shop) -> None:
    """¥200 or more is refunded only once two different staff members pressed, as in the bot."""
    customer = await shop.customer(1)
    shop.payments.refusing = True
    failed = await shop.recharge(customer, 200, FAILING)
    assert failed.status is S.FAILED
    ticket = await shop.support.open_ticket(
        customer.id, 1, Category.TOPUP_MISSING, "no credit", order_id=failed.id
    )
    shop.payments.refusing = False
    first = await shop.ticket_refunds.refund(ticket.id, 700, "Li")
    again = await shop.ticket_refunds.refund(ticket.id, 700, "Li")
    assert [first.outcome, again.outcome] == [RefundOutcome.AWAITING_SECOND] * 2
    assert shop.payments.made == []
    second = await shop.ticket_refunds.refund(ticket.id, 701, "Wang")
    assert (second.outcome, second.first_approver) == (RefundOutcome.REFUNDED, 700)
    assert shop.payments.made == [failed.id]
    assert (await shop.fulfilment.get(failed.id)).status is S.REFUNDED
