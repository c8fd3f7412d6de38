"""The HTTP carrier gateway client against a fake gateway over real HTTP, alone and in service.

An unknown outcome is never a failure: time-outs, 5xx, dropped connections and unreadable answers
leave a top-up PENDING, to be asked about again; only a definite "failed" (or a refused submit)
fails it. The order number is the idempotency key, so nothing is ever topped up twice.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.http_gateway import GatewaySettings, HttpTopUpGateway
from domain.integrations.sandbox import SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderPurpose, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.tables import OrderRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import Carrier, parse_phone_number
from domain.ports import TopUpResult, TopUpState
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, build_services
from tests.fakes.carrier_gateway import FakeCarrierGateway
from tests.module_search import searched_modules

S = OrderStatus
API_KEY = "test-api-key"
TIMEOUT = 0.2
BACKOFF = 0.01
ATTEMPTS = 3
SLOW = 1.0  # longer than the client's time-out
NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def settings(base_url: str, api_key: str = API_KEY) -> GatewaySettings:
    return GatewaySettings(
        base_url, api_key, timeout_seconds=TIMEOUT, attempts=ATTEMPTS, backoff_seconds=BACKOFF
    )


def an_order(order_id: int = 1, phone: str = "18612345678") -> Order:
    return Order(
        id=order_id,
        customer_id=1,
        purpose=OrderPurpose.RECHARGE,
        status=S.TOPPING_UP,
        amount=Money.yuan(30),
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=15),
        chat_id=1,
        phone_digits=phone,
        carrier=Carrier.UNICOM,
        product_id=3,
        product_kind=ProductKind.CREDIT,
    )


@pytest.fixture
async def carrier() -> AsyncIterator[FakeCarrierGateway]:
    async with FakeCarrierGateway(api_key=API_KEY) as gateway:
        yield gateway


@pytest.fixture
async def client(carrier: FakeCarrierGateway) -> AsyncIterator[HttpTopUpGateway]:
    gateway = HttpTopUpGateway(settings(carrier.base_url))
    try:
        yield gateway
    finally:
        await gateway.close()


ORDER = an_order()


# -- the client alone -------------------------------------------------------------------------


async def test_a_top_up_completed_at_once(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    result = await client.submit(ORDER)
    assert result.state is TopUpState.COMPLETED and result.reference
    assert carrier.topped_up[ORDER.number] == 1
    [topup] = carrier.topups.values()
    assert topup.key == ORDER.number
    assert topup.body == {
        "order_id": ORDER.number,
        "phone": "18612345678",
        "carrier": "unicom",
        "product_kind": "credit",
        "amount_fen": 3000,
        "currency": "CNY",
    }
    assert await client.status(ORDER) == result


async def test_a_top_up_request_searches_the_import_path_for_nothing(
    client: HttpTopUpGateway,
) -> None:
    """Once the first request is made, the client imports nothing (httpcore asks for `sniffio`
    on every lock it sets up; a failed import is searched for on the whole path each time)."""
    await client.submit(an_order(1))
    with searched_modules() as searched:
        await client.submit(an_order(2))
        await client.status(an_order(2))
    assert searched == []


async def test_a_pending_top_up_completes_on_a_later_status_check(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.stay_pending(2)
    submitted = await client.submit(ORDER)
    assert submitted.state is TopUpState.PENDING and submitted.reference
    assert (await client.status(ORDER)).state is TopUpState.PENDING
    assert (await client.status(ORDER)).state is TopUpState.PENDING
    assert carrier.topped_up[ORDER.number] == 0
    done = await client.status(ORDER)
    assert done == TopUpResult(TopUpState.COMPLETED, submitted.reference)
    assert carrier.topped_up[ORDER.number] == 1
    assert carrier.submits[ORDER.number] == 1


async def test_a_failed_top_up_fails_with_the_gateways_reason(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.fail_with("number_not_rechargeable")
    result = await client.submit(ORDER)
    assert result.state is TopUpState.FAILED and result.reason == "number_not_rechargeable"
    assert (await client.status(ORDER)).reason == "number_not_rechargeable"
    assert carrier.topped_up[ORDER.number] == 0


@pytest.mark.parametrize("status", [500, 502, 503, 409, 429])
async def test_5xx_and_transient_answers_are_retried_with_backoff(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway, status: int
) -> None:
    carrier.fail_next(ATTEMPTS - 1, status=status)
    result = await client.submit(ORDER)
    assert result.state is TopUpState.COMPLETED
    posts = carrier.seen("POST")
    assert [p.answer for p in posts] == [str(status)] * (ATTEMPTS - 1) + ["200"]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(posts)]
    assert gaps[0] >= BACKOFF * 0.9 and gaps[1] >= 2 * BACKOFF * 0.9  # doubling backoff
    assert carrier.topped_up[ORDER.number] == 1


async def test_5xx_on_every_attempt_is_pending_then_the_status_check_submits_again(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.fail_next(ATTEMPTS, status=500)
    assert (await client.submit(ORDER)).state is TopUpState.PENDING
    assert carrier.topped_up[ORDER.number] == 0
    # The gateway is back; it never saw the top-up (404), so the status check resubmits.
    assert (await client.status(ORDER)).state is TopUpState.COMPLETED
    assert carrier.topped_up[ORDER.number] == 1


async def test_a_time_out_is_retried(carrier: FakeCarrierGateway, client: HttpTopUpGateway) -> None:
    carrier.slow_next(1, seconds=SLOW)
    result = await client.submit(ORDER)
    assert result.state is TopUpState.COMPLETED
    assert [p.answer for p in carrier.seen("POST")] == ["slow", "200"]
    assert carrier.topped_up[ORDER.number] == 1  # the lost answer's top-up, not a second one


async def test_time_outs_on_every_attempt_are_pending_never_failed(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.slow_next(ATTEMPTS, seconds=SLOW)
    started = time.monotonic()
    result = await client.submit(ORDER)
    assert time.monotonic() - started < SLOW  # each attempt gave up after the client's time-out
    assert result == TopUpResult(TopUpState.PENDING)
    assert carrier.submits[ORDER.number] == ATTEMPTS
    # The gateway did top up; a later status check hears of it, and nothing happens twice.
    later = await client.status(ORDER)
    assert later.state is TopUpState.COMPLETED and later.reference
    assert carrier.topped_up[ORDER.number] == 1
    assert carrier.seen("POST")[-1].answer == "slow"  # no resubmit after the answer


async def test_dropped_connections_are_retried_and_top_up_once(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.drop_next(1)
    carrier.drop_next(1, after_processing=True)
    assert (await client.submit(ORDER)).state is TopUpState.COMPLETED
    assert [p.answer for p in carrier.seen("POST")] == ["dropped", "dropped", "200"]
    assert carrier.topped_up[ORDER.number] == 1

    other = an_order(2)
    carrier.drop_next(ATTEMPTS)
    assert (await client.submit(other)).state is TopUpState.PENDING
    assert carrier.topped_up[other.number] == 0


async def test_a_wrong_api_key_fails_the_submit_without_retrying(
    carrier: FakeCarrierGateway,
) -> None:
    wrong = HttpTopUpGateway(settings(carrier.base_url, api_key="not-the-key"))
    try:
        result = await wrong.submit(ORDER)
    finally:
        await wrong.close()
    assert result.state is TopUpState.FAILED and result.reason == "http_401"
    assert [p.answer for p in carrier.requests] == ["401"]
    assert carrier.topped_up[ORDER.number] == 0


async def test_a_refused_status_check_is_pending_not_failed(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.stay_pending(0)
    carrier.slow_next(ATTEMPTS, seconds=SLOW)
    assert (await client.submit(ORDER)).state is TopUpState.PENDING  # but the gateway has it
    carrier.api_key = "rotated"  # the key changed at the gateway: 401 to everything
    refused = await client.status(ORDER)
    assert refused.state is TopUpState.PENDING and refused.reason == "http_401"
    carrier.api_key = API_KEY
    assert (await client.status(ORDER)).state is TopUpState.COMPLETED
    assert carrier.topped_up[ORDER.number] == 1


async def test_the_same_order_submitted_twice_tops_up_once(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    first = await client.submit(ORDER)
    second = await client.submit(ORDER)
    assert first == second and first.state is TopUpState.COMPLETED
    assert carrier.submits[ORDER.number] == 2
    assert carrier.topped_up[ORDER.number] == 1
    assert len(carrier.topups) == 1


async def test_concurrent_submits_of_one_order_top_up_once(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    results = await asyncio.gather(*(client.submit(ORDER) for _ in range(10)))
    assert len(set(results)) == 1 and results[0].state is TopUpState.COMPLETED
    assert carrier.submits[ORDER.number] == 10
    assert carrier.topped_up[ORDER.number] == 1


async def test_a_404_on_status_submits_again(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.forget_next_submits(1)
    assert (await client.submit(ORDER)).state is TopUpState.PENDING
    assert carrier.topups == {}  # the submit was lost at the gateway
    result = await client.status(ORDER)
    assert result.state is TopUpState.COMPLETED
    assert [(s.method, s.answer) for s in carrier.requests] == [
        ("POST", "200"),
        ("GET", "404"),
        ("POST", "200"),
    ]
    assert carrier.topped_up[ORDER.number] == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Bad Gateway</body></html>", "text/html"),
        (b"", "application/json"),
        (b"{not json", "application/json"),
        (b'{"status": "done"}', "application/json"),
        (b'{"state": "completed"}', "application/json"),
        (b'["completed"]', "application/json"),
        (b'"completed"', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
async def test_a_garbage_answer_is_pending(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway, body: bytes, content_type: str
) -> None:
    carrier.garbage_next(1, body=body, content_type=content_type)
    result = await client.submit(ORDER)
    assert result == TopUpResult(TopUpState.PENDING, reason="unreadable_answer")
    carrier.garbage_next(1, body=body, content_type=content_type)
    assert (await client.status(ORDER)).state is TopUpState.PENDING
    assert carrier.topped_up[ORDER.number] == 0
    assert (await client.status(ORDER)).state is TopUpState.COMPLETED  # 404, so resubmitted
    assert carrier.topped_up[ORDER.number] == 1


async def test_a_numeric_reference_or_reason_is_read_as_text(
    carrier: FakeCarrierGateway, client: HttpTopUpGateway
) -> None:
    carrier.garbage_next(1, b'{"status": "failed", "reference": 42, "reason": 7}', "text/plain")
    assert await client.submit(ORDER) == TopUpResult(TopUpState.FAILED, "42", "7")


# -- through the recharge service, on SQLite and PostgreSQL ------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class World:
    """The services on one database, topping up through the HTTP client and the fake gateway."""

    def __init__(self, engine: AsyncEngine, gateway: HttpTopUpGateway) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.payments = SandboxPayments()
        self.config = RechargeConfig(
            limits=RechargeLimits(Money.yuan(1), Money.yuan(500), Money.yuan(1000)),
            methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
        )
        self.services = build_services(
            UnitOfWorkFactory.of(engine),
            self.clock,
            recharge=self.config,
            ports=Ports(gateway, {PaymentMethod.SANDBOX: self.payments}),
        )

    async def customer(self) -> Customer:
        return (await self.services.customers.begin_turn(TelegramProfile(1), 1)).customer

    async def paid_order(self, phone: str = "18612345678", yuan: int = 30) -> Order:
        """A customer's order, paid with the sandbox provider, as the service carried it on."""
        customer = await self.customer()
        products = await self.services.ordering.products(ProductKind.CREDIT)
        product = next(p.id for p in products if p.price == Money.yuan(yuan))
        order = await self.services.ordering.create_order(
            customer.id, 1, parse_phone_number(phone), product
        )
        return await self.services.paying.pay_with_provider(
            customer.id, order.id, PaymentMethod.SANDBOX
        )


@pytest.fixture
def world(engine: AsyncEngine, client: HttpTopUpGateway) -> World:
    return World(engine, client)


async def test_a_top_up_that_times_out_stays_topping_up_until_the_sweep_completes_it(
    world: World, carrier: FakeCarrierGateway
) -> None:
    carrier.slow_next(ATTEMPTS, seconds=SLOW)
    order = await world.paid_order()
    assert order.status is S.TOPPING_UP and order.failure_reason is None
    assert world.payments.refunds == set()
    assert all(seen.answer == "slow" for seen in carrier.requests)
    assert carrier.topped_up == {order.number: 1}  # the gateway did it; nobody heard of it
    # Not due to be asked again yet: the sweep leaves it alone.
    asked = len(carrier.requests)
    assert await world.services.paying.recover() == []
    assert len(carrier.requests) == asked

    carrier.recover()
    world.clock.advance(seconds=world.config.recheck_after.total_seconds() + 1)
    moved = await world.services.paying.recover()
    assert [(o.id, o.status) for o in moved] == [(order.id, S.COMPLETED)]
    done = await world.services.ordering.get(order.id)
    assert done.completed_at == world.clock.now
    assert carrier.topped_up == {order.number: 1}
    assert world.payments.refunds == set()
    assert [step[1] for step in await world.services.ordering.history(order.id)][-2:] == [
        "topping_up",
        "completed",
    ]
    assert await world.services.paying.recover() == []


async def test_a_refused_status_check_never_refunds_a_top_up_that_may_have_happened(
    world: World, carrier: FakeCarrierGateway
) -> None:
    carrier.slow_next(ATTEMPTS, seconds=SLOW)
    order = await world.paid_order()
    assert order.status is S.TOPPING_UP
    carrier.api_key = "rotated"  # the sweep's status check is refused: 401
    world.clock.advance(seconds=31)
    assert await world.services.paying.recover() == []
    assert (await world.services.ordering.get(order.id)).status is S.TOPPING_UP
    assert world.payments.refunds == set()
    carrier.api_key = API_KEY
    world.clock.advance(seconds=31)
    assert [o.status for o in await world.services.paying.recover()] == [S.COMPLETED]
    assert carrier.topped_up == {order.number: 1}


async def test_a_failed_top_up_is_refunded(world: World, carrier: FakeCarrierGateway) -> None:
    carrier.fail_with("number_not_rechargeable")
    order = await world.paid_order()
    assert order.status is S.REFUNDED and order.failure_reason == "number_not_rechargeable"
    assert world.payments.refunds == {order.id}
    assert carrier.topped_up[order.number] == 0


async def test_a_top_up_after_5xx_completes_at_once(
    world: World, carrier: FakeCarrierGateway
) -> None:
    carrier.fail_next(ATTEMPTS - 1, status=503)
    order = await world.paid_order()
    assert order.status is S.COMPLETED
    assert carrier.topped_up == {order.number: 1}


async def test_a_numeric_reference_is_stored_as_text(
    world: World, carrier: FakeCarrierGateway
) -> None:
    carrier.numeric_references = True
    order = await world.paid_order()
    assert order.status is S.COMPLETED
    async with world.engine.connect() as connection:
        query = select(OrderRow.gateway_reference).where(OrderRow.id == order.id)
        assert await connection.scalar(query) == "1"
    assert carrier.topped_up == {order.number: 1}
