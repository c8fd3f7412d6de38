"""The support sweeps with a fake clock: an unanswered ticket is raised to supervisors once per
wait, a supervisor can answer from the private message, resolved tickets close by themselves,
and a message that could not be sent waits for the next sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.services.staff import StaffRole
from domain.tickets import Category, TicketStatus
from handlers.contract import DeliveryStatus, message_event
from scheduler.support import StaffChat, relay_support, sweep_support_sla
from tests.conftest import make_settings
from tests.integration.test_recharge import FakeClock
from tests.support.fakes import RecordingPort

ADMIN = 7001
SUPERVISOR = 7100
AGENT = 7200
GROUP = -100555
FORUM = StaffChat(GROUP, is_forum=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(sqlite_url: str, clock: FakeClock) -> AsyncIterator[App]:
    settings = make_settings(
        sqlite_url,
        demo_mode=True,
        admin_ids=str(ADMIN),
        support_first_response_minutes=30,
        support_auto_close_hours=48,
    )
    built = await build_app(settings, clock=clock)
    await built.services.staff.grant(SUPERVISOR, StaffRole.SUPERVISOR)
    await built.services.staff.grant(AGENT, StaffRole.AGENT)
    try:
        yield built
    finally:
        await built.close()


async def _ticket(app: App) -> int:
    turn = await app.services.customers.begin_turn(TelegramProfile(1001, "小明"), 1001)
    ticket = await app.services.support.open_ticket(
        turn.customer.id, 1001, Category.PAYMENT, "扣款两次"
    )
    return ticket.id


async def test_an_unanswered_ticket_is_raised_to_supervisors_once_per_wait(
    app: App, clock: FakeClock
) -> None:
    port = RecordingPort()
    ticket_id = await _ticket(app)
    await relay_support(app.services, port, FORUM)
    clock.advance(minutes=29)
    assert await sweep_support_sla(app.services) == (0, 0)

    clock.advance(minutes=2)
    assert await sweep_support_sla(app.services) == (1, 0)
    assert await sweep_support_sla(app.services) == (0, 0)  # once per wait
    await relay_support(app.services, port, FORUM)
    [in_topic] = [s for s in port.to(GROUP) if "超时未回复" in s.reply.text]
    assert in_topic.reply.thread_id == port.topics[0][2]
    private = {s.chat_id: s for s in port.sent if s.chat_id > 0}
    assert set(private) == {ADMIN, SUPERVISOR}  # supervisors and ADMIN_IDS; not the agent
    assert "扣款两次" in private[SUPERVISOR].reply.text

    # The supervisor answers by replying to the private message: it reaches the customer.
    supervisor = TelegramProfile(SUPERVISOR, "Boss")
    event = message_event(
        supervisor,
        SUPERVISOR,
        "已为您退还重复扣款",
        message_id=3,
        reply_to_message_id=private[SUPERVISOR].message_id,
    )
    await app.conversation.handle(event)
    await relay_support(app.services, port, FORUM)
    assert port.to(1001)[-1].reply.text == "💬 客服（工单 #1）：已为您退还重复扣款"

    # The customer writes again: a new wait, raised again when it runs over.
    clock.advance(minutes=5)
    await app.services.support.customer_message(1, ticket_id, "还没到账")
    clock.advance(minutes=29)
    assert await sweep_support_sla(app.services) == (0, 0)
    clock.advance(minutes=2)
    assert await sweep_support_sla(app.services) == (1, 0)


async def test_resolved_tickets_close_after_the_auto_close_time(app: App, clock: FakeClock) -> None:
    ticket_id = await _ticket(app)
    await app.services.support.resolve(ADMIN, ticket_id)
    clock.advance(hours=47)
    assert await sweep_support_sla(app.services) == (0, 0)
    clock.advance(hours=2)
    assert await sweep_support_sla(app.services) == (0, 1)
    assert (await app.services.support.get(ticket_id)).status is TicketStatus.CLOSED


async def test_a_message_not_sent_waits_for_the_next_sweep_and_keeps_its_order(
    app: App,
) -> None:
    port = RecordingPort(failing=DeliveryStatus.RETRY)
    ticket_id = await _ticket(app)
    await app.services.support.customer_message(1, ticket_id, "补充一句")
    assert await relay_support(app.services, port, StaffChat(GROUP)) == 0
    assert await relay_support(app.services, port, StaffChat(GROUP)) == 0  # still failing
    port.failing = None
    assert await relay_support(app.services, port, StaffChat(GROUP)) == 2
    card, added = port.to(GROUP)
    assert "扣款两次" in card.reply.text and added.reply.text == "💬 工单 #1 客户：补充一句"
    assert await relay_support(app.services, port, StaffChat(GROUP)) == 0


async def test_a_supervisor_gets_the_escalation_in_their_own_language(
    app: App, clock: FakeClock
) -> None:
    # The supervisor once wrote to the bot from an English client; ADMIN never did.
    await app.services.customers.begin_turn(
        TelegramProfile(SUPERVISOR, "Boss", language_code="en"), SUPERVISOR
    )
    port = RecordingPort()
    await _ticket(app)
    await relay_support(app.services, port, FORUM)
    clock.advance(minutes=31)
    assert await sweep_support_sla(app.services) == (1, 0)
    await relay_support(app.services, port, FORUM)
    [to_supervisor] = port.to(SUPERVISOR)
    assert to_supervisor.reply.text.startswith("⏰ Ticket #1 (normal) has waited too long")
    assert "🆕 Ticket #1 · " in to_supervisor.reply.text and "扣款两次" in to_supervisor.reply.text
    [to_admin] = port.to(ADMIN)
    assert to_admin.reply.text.startswith("⏰ 工单 #1（普通）超时未回复")
    [in_topic] = [s for s in port.to(GROUP) if s.reply.text.startswith("⏰")]
    assert "超时未回复" in in_topic.reply.text  # the staff chat's language
