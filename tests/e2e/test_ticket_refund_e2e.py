"""A staff refund from a ticket end to end over the fake Bot API server, for both front ends: a
customer whose top-up has not arrived reports it from /feedback, the ticket's card reaches the
staff chat with a refund button; pressed while the carrier has not said the top-up failed it
refunds nothing; pressed once it has, it refunds the order through the payment provider once, the
staff chat is told, and the customer hears how the order ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxPayments
from domain.money import Money
from domain.orders import Order, OrderStatus, PaymentMethod
from domain.phone import parse_phone_number
from domain.ports import TopUpResult, TopUpState
from domain.services.registry import Ports
from scheduler.jobs import sweep_orders
from tests.e2e.test_support_e2e import (
    CUSTOMER,
    STAFF,
    STAFF_CHAT,
    api,  # noqa: F401  (the fake server with the customer, staff and staff chat)
    bot_on_clock,
    labels,
    press,
    relay,
    staff_chat_texts,
)
from tests.fakes.bot_api import FakeBotApi
from tests.integration.test_recharge import FakeClock

pytestmark = pytest.mark.timeout(30)

NUMBER = parse_phone_number("18612345678")


@dataclass
class SlowCarrier:
    """A carrier gateway whose top-ups stay pending until the test says they failed."""

    failed: bool = False

    async def submit(self, order: Order) -> TopUpResult:
        return await self.status(order)

    async def status(self, order: Order) -> TopUpResult:
        reference = f"carrier-{order.number}"
        if self.failed:
            return TopUpResult(TopUpState.FAILED, reference, "number_not_rechargeable")
        return TopUpResult(TopUpState.PENDING, reference)


@dataclass
class RefusingRefunds(SandboxPayments):
    """A payment provider that refuses refunds while `refusing`."""

    refusing: bool = True

    async def refund(self, order: Order, reference: str | None) -> bool:
        if self.refusing:
            return False
        return await super().refund(order, reference)


@pytest.mark.parametrize("frontend", ["ptb", "aiogram"])
async def test_staff_refund_a_failed_top_up_from_its_ticket_once(
    api: FakeBotApi,  # noqa: F811
    sqlite_url: str,
    frontend: str,
) -> None:
    clock = FakeClock()
    carrier, provider = SlowCarrier(), RefusingRefunds()
    ports = Ports(carrier, {PaymentMethod.SANDBOX: provider})
    settings: dict[str, Any] = {
        "admin_ids": str(STAFF.id),
        "staff_chat_id": STAFF_CHAT.id,
        "staff_chat_is_forum": True,
    }
    async with bot_on_clock(frontend, api, sqlite_url, clock, ports, **settings) as app:
        services = app.services
        # The customer paid ¥50 through the payment provider; the top-up is still under way.
        profile = TelegramProfile(CUSTOMER.id, CUSTOMER.first_name, None, None, "zh-hans")
        customer = (await services.customers.begin_turn(profile, CUSTOMER.id)).customer
        products = await services.ordering.products(ProductKind.CREDIT)
        product = next(p for p in products if p.price == Money.yuan(50))
        order = await services.ordering.create_order(customer.id, CUSTOMER.id, NUMBER, product.id)
        order = await services.paying.pay_with_provider(
            customer.id, order.id, PaymentMethod.SANDBOX
        )
        assert order.status is OrderStatus.TOPPING_UP

        # It has not arrived: the customer says so about that order.
        api.send_text(CUSTOMER, "/feedback")
        [welcome] = await api.wait_for_message(CUSTOMER.id)
        await press(api, CUSTOMER, welcome, "⚠️ 投诉")
        categories = await api.wait_for_edit(CUSTOMER.id)
        await press(api, CUSTOMER, categories, "充值未到账")
        choice = await api.wait_for_edit(CUSTOMER.id)
        first = choice["reply_markup"]["inline_keyboard"][0][0]
        assert "¥50" in first["text"] or "50" in first["text"]
        mark = api.mark()
        update_id = api.press_button(CUSTOMER, choice, callback_data=first["callback_data"])
        await api.wait_for_callback_answer(update_id)
        replies = await api.wait_for_message(CUSTOMER.id, after=mark, count=2)
        assert "已为您转人工加急处理" in replies[0]["text"]
        assert "已为您创建工单 #1" in replies[1]["text"]

        # The card reaches the staff chat with a refund button.
        await relay(app, api)
        [card] = staff_chat_texts(api)
        assert "💸 退款" in labels(card)

        # Pressed while the carrier has not said the top-up failed: nothing is refunded.
        refunds = provider
        mark = api.mark()
        await press(api, STAFF, card, "💸 退款")
        [pending] = await api.wait_for_message(STAFF_CHAT.id, after=mark)
        assert "运营商尚未确认失败" in pending["text"]
        assert refunds.refunds == set()
        assert (await services.ordering.get(order.id)).status is OrderStatus.TOPPING_UP

        # The carrier fails it; the provider refuses the automatic refund, so the order stays
        # failed and unrefunded until staff refund it from the ticket.
        carrier.failed = True
        clock.advance(minutes=1)  # the order is due to be asked about again
        await sweep_orders(services, app.delivery)
        assert (await services.ordering.get(order.id)).status is OrderStatus.FAILED
        assert refunds.refunds == set()
        provider.refusing = False
        mark = api.mark()
        await press(api, STAFF, card, "💸 退款")
        [refunded] = await api.wait_for_message(STAFF_CHAT.id, after=mark)
        assert refunded["text"].startswith("💸 已退款")
        assert refunds.refunds == {order.id}
        assert (await services.ordering.get(order.id)).status is OrderStatus.REFUNDED

        # Pressed again: the same order is not refunded twice.
        mark = api.mark()
        await press(api, STAFF, card, "💸 退款")
        [again] = await api.wait_for_message(STAFF_CHAT.id, after=mark)
        assert "此订单已退款，未重复退款" in again["text"]
        assert refunds.refunds == {order.id}

        # The customer hears how the order ended.
        mark = api.mark()
        assert await sweep_orders(services, app.delivery) == 1
        [told] = await api.wait_for_message(CUSTOMER.id, after=mark)
        assert "退款" in told["text"], told["text"]
        await api.wait_for(lambda: not api.unanswered_callback_queries(), what="all answered")
