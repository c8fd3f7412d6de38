"""The support service's rules on the fake unit of work (in memory, milliseconds a test); the
races that need a real database (two staff taking one ticket, a duplicated staff reply, the
flood limit under concurrency, one sweep per message) stay in tests/integration/test_support.py,
and tests/contracts/ holds the fake to the databases' behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.services.support import (
    AlreadyTaken,
    Destination,
    Flooded,
    MessageKind,
    OrderNotTheirs,
    SupportConfig,
    SupportService,
    TicketNotActive,
    TicketNotFound,
)
from domain.tickets import Category, Priority, TicketStatus
from tests.fakes.clock import ManualClock as Clock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 11, 2, 0, tzinfo=UTC))


@pytest.fixture
def support(database: FakeDatabase, clock: Clock) -> SupportService:
    return SupportService(FakeUnitOfWorkFactory(database), SupportConfig(flood_messages=5), clock)


async def test_a_claim_left_by_a_dead_sweep_is_sent_again_later(
    support: SupportService, database: FakeDatabase, clock: Clock
) -> None:
    await support.open_ticket(database.add_customer(), 1, Category.OTHER, "help")
    [card] = await support.pending()
    assert (card.kind, card.destination, card.text) == (
        MessageKind.CARD,
        Destination.STAFF,
        "help",
    )
    assert await support.claim(card.id)
    assert not await support.claim(card.id)
    assert await support.pending() == []
    clock.advance(minutes=3)
    assert [m.id for m in await support.pending()] == [card.id]


async def test_a_delivered_message_leads_back_to_its_ticket(
    support: SupportService, database: FakeDatabase
) -> None:
    ticket = await support.open_ticket(database.add_customer(), 1, Category.OTHER, "help")
    [card] = await support.pending()
    assert await support.claim(card.id)
    await support.delivered(card.id, -100, 321)
    assert await support.pending() == []
    assert await support.ticket_answered_by(-100, 321) == ticket.id
    assert await support.ticket_answered_by(-100, 322) is None
    assert await support.card_message(ticket.id) == (-100, 321)


async def test_a_message_not_sent_is_released_for_the_next_sweep(
    support: SupportService, database: FakeDatabase
) -> None:
    await support.open_ticket(database.add_customer(), 1, Category.OTHER, "help")
    [card] = await support.pending()
    assert await support.claim(card.id)
    await support.release(card.id)
    assert [m.id for m in await support.pending()] == [card.id]


async def test_the_flood_window_passes(
    support: SupportService, database: FakeDatabase, clock: Clock
) -> None:
    customer = database.add_customer()
    for n in range(5):
        await support.suggest(customer, f"idea {n}")
    with pytest.raises(Flooded):
        await support.suggest(customer, "one more")
    with pytest.raises(Flooded):
        await support.open_ticket(customer, 1, Category.OTHER, "and a ticket")
    assert database.tables.tickets == {}  # refused before anything was written
    clock.advance(minutes=10)
    await support.suggest(customer, "later")


async def test_a_customer_never_reaches_another_customers_ticket(
    support: SupportService, database: FakeDatabase
) -> None:
    owner, other = database.add_customer(), database.add_customer()
    ticket = await support.open_ticket(owner, 1, Category.OTHER, "private matter")
    with pytest.raises(TicketNotFound):
        await support.own_ticket(other, ticket.id)
    with pytest.raises(TicketNotFound):
        await support.customer_message(other, ticket.id, "hi")
    with pytest.raises(TicketNotFound):
        await support.close_by_customer(other, ticket.id)
    with pytest.raises(TicketNotFound):
        await support.reopen_by_customer(other, ticket.id)
    with pytest.raises(TicketNotFound):
        await support.rate_support(other, ticket.id, 5)
    assert await support.tickets_of(other) == []
    assert [t.id for t in await support.tickets_of(owner)] == [ticket.id]
    assert (await support.get(ticket.id)).status is TicketStatus.OPEN


async def test_a_closed_ticket_takes_no_staff_reply_and_a_resolved_one_reopens(
    support: SupportService, database: FakeDatabase
) -> None:
    customer = database.add_customer()
    ticket = await support.open_ticket(customer, 1, Category.PAYMENT, "charged twice")
    await support.resolve(901, ticket.id)
    reopened = await support.customer_message(customer, ticket.id, "still charged")
    assert reopened.status is TicketStatus.ASSIGNED and reopened.resolved_at is None
    await support.close_by_customer(customer, ticket.id)
    with pytest.raises(TicketNotActive):
        await support.staff_reply(901, ticket.id, "late", source_chat_id=-100, source_message_id=1)
    with pytest.raises(TicketNotActive):
        await support.customer_message(customer, ticket.id, "again")
    with pytest.raises(TicketNotActive):
        await support.resolve(901, ticket.id)
    reopened_by_staff = await support.reopen_by_staff(902, ticket.id)
    assert reopened_by_staff.status is TicketStatus.ASSIGNED
    assert reopened_by_staff.assignee_id == 902 and reopened_by_staff.closed_at is None


async def test_a_staff_reply_answers_the_customer_once_per_message(
    support: SupportService, database: FakeDatabase, clock: Clock
) -> None:
    customer = database.add_customer()
    ticket = await support.open_ticket(customer, 1, Category.OTHER, "help")
    clock.advance(minutes=4)
    answered = await support.staff_reply(
        901, ticket.id, "on it", source_chat_id=-100, source_message_id=55
    )
    assert answered is not None and answered.status is TicketStatus.WAITING
    assert answered.assignee_id == 901 and answered.first_response_at == clock.now
    again = await support.staff_reply(
        901, ticket.id, "on it", source_chat_id=-100, source_message_id=55
    )
    assert again is None
    to_customer = [m for m in await support.pending() if m.kind is MessageKind.STAFF]
    assert [(m.text, m.destination) for m in to_customer] == [("on it", Destination.CUSTOMER)]
    assert [line.text for line in await support.transcript(ticket.id)] == ["help", "on it"]
    # The customer's own message is kept once too, and brings the ticket back to staff.
    back = await support.customer_message(
        customer, ticket.id, "thanks", source_chat_id=1, source_message_id=7
    )
    assert back.status is TicketStatus.ASSIGNED
    await support.customer_message(
        customer, ticket.id, "thanks", source_chat_id=1, source_message_id=7
    )
    assert [line.text for line in await support.transcript(ticket.id)] == [
        "help",
        "on it",
        "thanks",
    ]


async def test_a_taken_ticket_is_not_taken_by_another(
    support: SupportService, database: FakeDatabase
) -> None:
    ticket = await support.open_ticket(database.add_customer(), 1, Category.OTHER, "help")
    taken = await support.take(901, ticket.id)
    assert taken.status is TicketStatus.ASSIGNED and taken.assignee_id == 901
    assert (await support.take(901, ticket.id)).assignee_id == 901  # again: still theirs
    with pytest.raises(AlreadyTaken) as refused:
        await support.take(902, ticket.id)
    assert refused.value.ticket.assignee_id == 901


async def test_an_unanswered_ticket_is_raised_once_per_wait(
    support: SupportService, database: FakeDatabase, clock: Clock
) -> None:
    customer = database.add_customer()
    ticket = await support.open_ticket(customer, 1, Category.OTHER, "help")
    clock.advance(minutes=29)
    assert await support.escalate_due([7001]) == []
    clock.advance(minutes=2)
    assert [t.id for t in await support.escalate_due([7001, 7002])] == [ticket.id]
    assert await support.escalate_due([7001]) == []
    raised = [m for m in await support.pending() if m.kind is MessageKind.ESCALATION]
    assert [(m.destination, m.to_chat_id) for m in raised] == [
        (Destination.STAFF, None),
        (Destination.PRIVATE, 7001),
        (Destination.PRIVATE, 7002),
    ]
    clock.advance(minutes=1)
    await support.staff_reply(901, ticket.id, "here", source_chat_id=-100, source_message_id=1)
    await support.customer_message(customer, ticket.id, "still waiting")
    clock.advance(minutes=31)
    assert [t.id for t in await support.escalate_due([])] == [ticket.id]  # a new wait


async def test_a_resolved_ticket_closes_by_itself_and_is_rated_once(
    support: SupportService, database: FakeDatabase, clock: Clock
) -> None:
    customer = database.add_customer()
    rated = await support.open_ticket(customer, 1, Category.OTHER, "one")
    left = await support.open_ticket(customer, 1, Category.OTHER, "two")
    with pytest.raises(TicketNotActive):
        await support.rate_support(customer, rated.id, 5)  # not resolved yet
    for ticket in (rated, left):
        await support.resolve(901, ticket.id)
    assert await support.rate_support(customer, rated.id, 5)
    assert not await support.rate_support(customer, rated.id, 1)
    after = await support.get(rated.id)
    assert after.status is TicketStatus.CLOSED and after.csat == 5
    assert await support.close_resolved() == 0
    clock.advance(hours=48)
    assert await support.close_resolved() == 1
    assert (await support.get(left.id)).status is TicketStatus.CLOSED


async def test_an_order_is_rated_by_its_customer_once_when_completed(
    support: SupportService, database: FakeDatabase
) -> None:
    customer, other = database.add_customer(), database.add_customer()
    done = database.add_order(customer, "completed")
    paying = database.add_order(customer, "awaiting_payment")
    with pytest.raises(OrderNotTheirs):
        await support.rate_order(other, done, 5)
    with pytest.raises(OrderNotTheirs):
        await support.rate_order(customer, paying, 5)
    with pytest.raises(ValueError):
        await support.rate_order(customer, done, 6)
    assert await support.rate_order(customer, done, 4)
    assert not await support.rate_order(customer, done, 1)
    assert await support.comment_order(customer, done, "fast")
    assert not await support.comment_order(customer, done, "again")
    assert await support.order_rating(done) == (4, "fast")
    assert await support.order_rating(paying) is None


async def test_a_ticket_about_an_order_must_be_about_the_customers_own(
    support: SupportService, database: FakeDatabase
) -> None:
    customer, other = database.add_customer(), database.add_customer()
    order = database.add_order(customer, "completed")
    with pytest.raises(OrderNotTheirs):
        await support.open_ticket(other, 2, Category.PAYMENT, "mine?", order_id=order)
    ticket = await support.open_ticket(
        customer, 1, Category.TOPUP_MISSING, "where", order_id=order, priority=Priority.HIGH
    )
    assert ticket.order_id == order and ticket.priority is Priority.HIGH
    assert [t.id for t in await support.tickets()] == [ticket.id]


async def test_a_forum_topic_is_made_once_per_ticket(
    support: SupportService, database: FakeDatabase
) -> None:
    ticket = await support.open_ticket(database.add_customer(), 1, Category.OTHER, "help")
    assert [t.id for t in await support.tickets_without_topic()] == [ticket.id]
    assert await support.set_topic(ticket.id, 77)
    assert not await support.set_topic(ticket.id, 78)
    assert await support.tickets_without_topic() == []
    assert (await support.get(ticket.id)).thread_id == 77


async def test_the_figures_count_the_tickets_of_the_period(
    support: SupportService, database: FakeDatabase, clock: Clock
) -> None:
    customer = database.add_customer()
    old = await support.open_ticket(customer, 1, Category.OTHER, "old")
    clock.advance(days=10)
    new = await support.open_ticket(customer, 1, Category.OTHER, "new")
    clock.advance(minutes=10)
    await support.staff_reply(901, new.id, "hi", source_chat_id=-100, source_message_id=1)
    stats = await support.stats(7)
    assert stats.tickets == 1
    assert await support.average_first_response(7) == timedelta(minutes=10)
    assert (await support.stats(30)).tickets == 2
    assert old.id != new.id
    await support.resolve(902, old.id)  # resolving answers it first: 10 days 10 minutes on
    waited = timedelta(days=10, minutes=10)
    assert await support.average_first_response(30) == (waited + timedelta(minutes=10)) / 2
    assert await support.average_first_response(7) == timedelta(minutes=10)
    assert (await support.stats(30)).first_response_avg == await support.average_first_response(30)
    assert await support.average_first_response(7) == timedelta(minutes=10)


async def test_the_published_wait_is_worked_out_again_once_a_minute_at_most(
    support: SupportService, database: FakeDatabase, clock: Clock
) -> None:
    customer = database.add_customer()
    first = await support.open_ticket(customer, 1, Category.OTHER, "first")
    second = await support.open_ticket(customer, 1, Category.OTHER, "second")
    assert await support.average_first_response(30) is None
    clock.advance(minutes=4)
    await support.staff_reply(901, first.id, "hi", source_chat_id=-100, source_message_id=1)
    assert await support.average_first_response(30) == timedelta(minutes=4)
    clock.advance(seconds=30)
    await support.staff_reply(901, second.id, "hi", source_chat_id=-100, source_message_id=2)
    assert await support.average_first_response(30) == timedelta(minutes=4)  # 30 s ago: same
    clock.advance(seconds=29)
    assert await support.average_first_response(30) == timedelta(minutes=4)
    clock.advance(seconds=1)
    assert await support.average_first_response(30) == timedelta(minutes=4, seconds=15)
