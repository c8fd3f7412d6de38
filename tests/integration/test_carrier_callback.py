"""The carrier gateway reports how a top-up ended over a signed callback: the order completes at
once, a replay changes nothing, and an unsigned or forged callback changes nothing at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.carrier_callback import MAX_BODY_BYTES, PATH, SIGNATURE_HEADER, callback_app, signature
from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services

SECRET = "carrier-callback-secret-0123"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def services(engine: AsyncEngine) -> Services:
    clock = Clock()
    return build_services(
        UnitOfWorkFactory.of(engine),
        clock,
        recharge=RechargeConfig(
            limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
            methods=(PaymentMethod.SANDBOX,),
        ),
        # The carrier never finishes by itself here: only its callback tells.
        ports=Ports(
            SandboxGateway(timedelta(days=1), clock), {PaymentMethod.SANDBOX: SandboxPayments()}
        ),
    )


@pytest.fixture
async def carrier(services: Services) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = TestClient(TestServer(callback_app(services.fulfilment, SECRET)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def topping_up(services: Services) -> Order:
    customer = (await services.customers.begin_turn(TelegramProfile(1), 1)).customer
    products = await services.ordering.products(ProductKind.CREDIT)
    product = next(p for p in products if p.price == Money.yuan(50))
    order = await services.ordering.create_order(
        customer.id, 1, parse_phone_number("18612345678"), product.id
    )
    paid = await services.paying.pay_with_provider(customer.id, order.id, PaymentMethod.SANDBOX)
    assert paid.status is OrderStatus.TOPPING_UP
    return paid


async def post(
    carrier: TestClient[web.Request, web.Application], report: object, *, signed_with: str = SECRET
) -> tuple[int, dict[str, str]]:
    body = json.dumps(report).encode()
    response = await carrier.post(
        PATH, data=body, headers={SIGNATURE_HEADER: signature(signed_with, body)}
    )
    return response.status, await response.json()


async def test_a_signed_report_completes_the_order_once(
    services: Services, carrier: TestClient[web.Request, web.Application]
) -> None:
    order = await topping_up(services)
    report = {"order_id": order.number, "status": "completed", "reference": "CU-1"}
    assert await post(carrier, report) == (200, {"status": "completed"})
    assert await post(carrier, report) == (200, {"status": "completed"})  # a replay
    done = await services.ordering.get(order.id)
    assert done.status is OrderStatus.COMPLETED
    assert [cause for _, _, cause in await services.ordering.history(order.id)].count(
        "carrier completed"
    ) == 1


async def test_a_failure_reported_by_the_carrier_is_refunded(
    services: Services, carrier: TestClient[web.Request, web.Application]
) -> None:
    order = await topping_up(services)
    report = {"order_id": order.number, "status": "failed", "reason": "number_suspended"}
    assert await post(carrier, report) == (200, {"status": "refunded"})


async def test_forged_unsigned_or_malformed_reports_change_nothing(
    services: Services, carrier: TestClient[web.Request, web.Application]
) -> None:
    order = await topping_up(services)
    completed = {"order_id": order.number, "status": "completed"}
    assert (await post(carrier, completed, signed_with="not-the-secret"))[0] == 401
    unsigned = await carrier.post(PATH, data=json.dumps(completed).encode())
    assert unsigned.status == 401
    assert (await post(carrier, {"order_id": order.number, "status": "done"}))[0] == 400
    assert (await post(carrier, ["not", "a", "report"]))[0] == 400
    other_day = "R20200101" + order.number[9:]
    assert (await post(carrier, {"order_id": other_day, "status": "completed"}))[0] == 404
    unknown = {"order_id": "R202611059999999999", "status": "completed"}
    assert (await post(carrier, unknown))[0] == 404
    huge = b"{" + b" " * MAX_BODY_BYTES + b"}"
    too_large = await carrier.post(
        PATH, data=huge, headers={SIGNATURE_HEADER: signature(SECRET, huge)}
    )
    assert too_large.status == 413
    assert (await services.ordering.get(order.id)).status is OrderStatus.TOPPING_UP
