"""The two-person rule on a ticket's refund, in the staff chat: the first staff member's press
is recorded and answered "awaiting a second approver" (pressing again does not count), and a
second, different member's press refunds the order, once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.audit import AuditAction
from domain.integrations.sandbox import SandboxPayments
from domain.orders import Order, OrderStatus, PaymentMethod
from scheduler.support import StaffChat, relay_support
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.support.fakes import RecordingPort
from tests.support.test_support_conversation import GROUP, STAFF_ID, staff_member

SECOND = 7002
FAILING = "18600000000"  # the sandbox carrier fails numbers ending in 0000


@pytest.fixture
async def desk(sqlite_url: str) -> AsyncIterator[App]:
    built = await build_app(
        make_settings(
            sqlite_url,
            demo_mode=True,
            admin_ids=f"{STAFF_ID},{SECOND}",
            sandbox_topup_delay_seconds=0,
            risk_two_person_fen=5_000,
        )
    )
    try:
        yield built
    finally:
        await built.close()


async def test_a_large_ticket_refund_waits_for_a_second_staff_member(
    desk: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = desk.ports.providers[PaymentMethod.SANDBOX]
    assert isinstance(provider, SandboxPayments)
    refunded: list[int] = []

    async def refusing(order: Order, reference: str | None) -> bool:
        return False

    async def refunding(order: Order, reference: str | None) -> bool:
        refunded.append(order.id)
        return True

    # The carrier fails the top-up and the provider refuses its refund: a ticket's case.
    monkeypatch.setattr(provider, "refund", refusing)
    customer = Chat.of(desk.conversation)
    await customer.send(f"/bind {FAILING}")
    await customer.send("/recharge")
    await customer.press("100元")
    await customer.press("模拟支付")
    [order] = await desk.services.ordering.orders_of(1)
    assert order.status is OrderStatus.FAILED
    await customer.send("/feedback")
    await customer.press("投诉")
    await customer.press("充值未到账")
    await customer.press("¥100 ")
    assert "已为您创建工单 #1" in customer.text
    monkeypatch.setattr(provider, "refund", refunding)

    port = RecordingPort()
    await relay_support(desk.services, port, StaffChat(GROUP))
    [card] = port.to(GROUP)
    refund = next(b for row in card.reply.buttons for b in row if b.text == "💸 退款")
    first = staff_member(desk, STAFF_ID, "李")
    for _ in range(2):  # the same member again does not count
        await first.press(refund.data or "", card.message_id)
        assert "金额较大，需两人审批：已记录您的同意" in first.last.replies[0].text
        assert refunded == []
    second = staff_member(desk, SECOND, "王")
    await second.press(refund.data or "", card.message_id)
    assert second.last.replies[0].text.startswith("💸 已退款")
    assert refunded == [order.id]
    assert (await desk.services.fulfilment.get(order.id)).status is OrderStatus.REFUNDED
    trail = [(r.entry.action, r.entry.actor_id) for r in await desk.services.audit.recent()]
    assert (AuditAction.FIRST_APPROVAL, STAFF_ID) in trail
    assert (AuditAction.TICKET_REFUNDED, SECOND) in trail
