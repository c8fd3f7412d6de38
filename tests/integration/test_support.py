"""Support on SQLite and PostgreSQL: tickets change once however many press at once, a duplicated
staff reply is relayed once, an outbox message is claimed by one sweep, the flood limit holds.
The service's other rules run on the fake unit of work (tests/support/test_support_service.py)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.customers import TelegramProfile
from domain.persistence.support_tables import TicketRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.registry import Services, build_services
from domain.services.support import (
    AlreadyTaken,
    Flooded,
    MessageKind,
    OrderNotTheirs,
    SupportConfig,
)
from domain.tickets import ERASED_TEXT, Category, TicketStatus
from tests.integration.test_recharge import FakeClock
from tests.sandbox import sandbox_ports


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(engine: AsyncEngine, clock: FakeClock) -> Services:
    return build_services(
        UnitOfWorkFactory.of(engine),
        clock,
        support=SupportConfig(flood_messages=5),
        ports=sandbox_ports(),
    )


async def _customer(services: Services, telegram_id: int) -> int:
    turn = await services.customers.begin_turn(TelegramProfile(telegram_id), telegram_id)
    return turn.customer.id


async def test_two_staff_taking_the_same_ticket_one_wins(services: Services) -> None:
    customer = await _customer(services, 1)
    ticket = await services.support.open_ticket(customer, 1, Category.OTHER, "help")
    results = await asyncio.gather(
        *(services.support.take(staff, ticket.id) for staff in (901, 902, 903)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyTaken) for r in results if isinstance(r, BaseException))
    after = await services.support.get(ticket.id)
    assert after.status is TicketStatus.ASSIGNED and after.assignee_id == winners[0].assignee_id


async def test_a_duplicated_staff_reply_is_relayed_once(services: Services) -> None:
    customer = await _customer(services, 1)
    ticket = await services.support.open_ticket(customer, 1, Category.OTHER, "help")
    results = await asyncio.gather(
        *(
            services.support.staff_reply(
                901, ticket.id, "on it", source_chat_id=-100, source_message_id=55
            )
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    assert sum(1 for r in results if r is not None and not isinstance(r, BaseException)) == 1
    to_customer = [m for m in await services.support.pending() if m.kind is MessageKind.STAFF]
    assert [m.text for m in to_customer] == ["on it"]
    after = await services.support.get(ticket.id)
    assert after.status is TicketStatus.WAITING and after.first_response_at is not None


async def test_each_outbox_message_is_claimed_by_one_sweep(services: Services) -> None:
    customer = await _customer(services, 1)
    await services.support.open_ticket(customer, 1, Category.OTHER, "help")
    [card] = await services.support.pending()
    claims = await asyncio.gather(*(services.support.claim(card.id) for _ in range(4)))
    assert claims.count(True) == 1
    await services.support.delivered(card.id, -100, 321)
    assert await services.support.pending() == []
    assert await services.support.ticket_answered_by(-100, 321) == card.ticket.id
    assert await services.support.ticket_answered_by(-100, 322) is None


async def test_the_flood_limit_holds_under_concurrency(services: Services) -> None:
    customer = await _customer(services, 1)
    results = await asyncio.gather(
        *(services.support.suggest(customer, f"idea {n}") for n in range(8)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if r is None) == 5
    assert all(isinstance(r, Flooded) for r in results if r is not None)


async def test_complaints_at_once_open_as_many_tickets_as_the_flood_limit_allows(
    services: Services,
) -> None:
    customer = await _customer(services, 1)
    results = await asyncio.gather(
        *(services.support.open_ticket(customer, 1, Category.OTHER, f"#{n}") for n in range(8)),
        return_exceptions=True,
    )
    opened = [r for r in results if not isinstance(r, BaseException)]
    assert len(opened) == 5
    assert all(isinstance(r, Flooded) for r in results if isinstance(r, BaseException))
    assert len(await services.support.tickets_of(customer)) == 5
    assert len(await services.support.pending()) == 5  # one staff card per ticket kept


async def test_a_refused_complaint_keeps_nothing_not_even_the_allowance(
    services: Services,
) -> None:
    customer = await _customer(services, 1)
    for _ in range(5):  # about an order that is not theirs (here: no order at all)
        with pytest.raises(OrderNotTheirs):
            await services.support.open_ticket(customer, 1, Category.PAYMENT, "?", order_id=9999)
    ticket = await services.support.open_ticket(customer, 1, Category.OTHER, "a real one")
    assert [t.id for t in await services.support.tickets_of(customer)] == [ticket.id]


async def test_erasure_blanks_support_texts_of_that_customer_only(services: Services) -> None:
    gone, stays = await _customer(services, 1), await _customer(services, 2)
    mine = await services.support.open_ticket(gone, 1, Category.OTHER, "我的地址是某某路 1 号")
    await services.support.staff_reply(
        901, mine.id, "已收到您的地址", source_chat_id=-100, source_message_id=1
    )
    await services.support.suggest(gone, "我的电话 13900001111")
    theirs = await services.support.open_ticket(stays, 2, Category.OTHER, "别人的问题")
    await services.customers.erase_personal_data(gone)

    assert {line.text for line in await services.support.transcript(mine.id)} == {ERASED_TEXT}
    assert [line.text for line in await services.support.transcript(theirs.id)] == ["别人的问题"]
    kept = await services.support.get(mine.id)
    assert kept.status is TicketStatus.WAITING and kept.first_response_at is not None
    assert (await services.support.get(theirs.id)).chat_id == 2


async def test_the_wait_a_complainer_is_told_reads_no_ticket(
    services: Services, clock: FakeClock
) -> None:
    """The average first response every new complaint shows is the database's aggregate: a
    month of tickets is not read into the bot for each complaint."""
    customer = await _customer(services, 1)
    tickets = [
        await services.support.open_ticket(customer, 1, Category.OTHER, f"help {n}")
        for n in range(3)
    ]
    clock.advance(minutes=4)
    for n, ticket in enumerate(tickets[:2]):
        await services.support.staff_reply(
            901, ticket.id, "on it", source_chat_id=-100, source_message_id=n
        )
    loaded: list[object] = []

    def note(target: object, context: object) -> None:
        loaded.append(target)

    event.listen(TicketRow, "load", note)
    try:
        average = await services.support.average_first_response(30)
    finally:
        event.remove(TicketRow, "load", note)
    assert average is not None and average.total_seconds() == 240
    assert loaded == []
