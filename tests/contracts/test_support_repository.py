"""The support repository's contract, held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from domain.errors import RecordConflict
from domain.repositories import NewTicket, NewTicketMessage, SupportRepository, TicketRecord
from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(minutes=5)


def new_ticket(customer_id: int, *, priority: str = "normal", at: datetime = NOW) -> NewTicket:
    return NewTicket(customer_id, 50, "other", priority, "open", None, at)


def to_staff(ticket_id: int, kind: str = "card", **values: object) -> NewTicketMessage:
    return NewTicketMessage(ticket_id, kind, "staff", NOW, **values)  # type: ignore[arg-type]


async def opened(
    world: World, customer_id: int, *, priority: str = "normal", at: datetime = NOW
) -> TicketRecord:
    async with world.units() as uow:
        ticket = await uow.support.open_ticket(new_ticket(customer_id, priority=priority, at=at))
        await uow.commit()
    return ticket


async def test_a_ticket_is_kept_only_when_committed_and_only_its_customer_sees_it(
    world: World,
) -> None:
    me, other = await world.customer(), await world.customer()
    async with world.units() as uow:
        dropped = await uow.support.open_ticket(new_ticket(me))
        assert (await uow.support.ticket(dropped.id)) == dropped
    async with world.units.read() as uow:
        assert await uow.support.ticket(dropped.id) is None
    first = await opened(world, me)
    second = await opened(world, me, at=LATER)
    async with world.units.read() as uow:
        assert await uow.support.ticket(first.id) == first
        assert first.status == "open" and first.waiting_since == NOW and first.assignee_id is None
        assert await uow.support.own_ticket(me, first.id) == first
        assert await uow.support.own_ticket(other, first.id) is None
        assert [t.id for t in await uow.support.tickets_of(me, 10)] == [second.id, first.id]
        assert [t.id for t in await uow.support.tickets_of(me, 1)] == [second.id]
        assert await uow.support.tickets_of(other, 10) == []
        assert [t.id for t in await uow.support.opened_since(LATER)] == [second.id]
        wanted = [first.id, second.id, dropped.id, first.id]
        assert await uow.support.tickets_by_id(wanted) == {first.id: first, second.id: second}
        assert await uow.support.tickets_by_id([]) == {}


async def test_the_first_response_average_counts_the_answered_tickets_opened_since(
    world: World,
) -> None:
    me = await world.customer()
    before = await opened(world, me, at=NOW - timedelta(days=1))
    quick = await opened(world, me)
    slow = await opened(world, me)
    await opened(world, me)  # nobody answered it yet: it does not count
    async with world.units.read() as uow:
        assert await uow.support.first_response_average(NOW) is None
    answers = {before.id: 10, quick.id: 60, slow.id: 181}
    async with world.units() as uow:
        for ticket_id, seconds in answers.items():
            answered = NOW + timedelta(seconds=seconds)
            assert await uow.support.move(
                ticket_id,
                ["open"],
                "waiting",
                answered,
                first_response_at=answered,
                first_response_seconds=seconds,
            )
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.support.first_response_average(NOW) == pytest.approx(120.5)
        assert await uow.support.first_response_average(NOW - timedelta(days=2)) == (
            pytest.approx(251 / 3)
        )
        assert await uow.support.first_response_average(LATER) is None
        assert (await uow.support.ticket(slow.id)).first_response_seconds == 181  # type: ignore[union-attr]


async def test_tickets_are_listed_high_priority_first_then_oldest_first(world: World) -> None:
    me = await world.customer()
    normal = await opened(world, me)
    high = await opened(world, me, priority="high")
    closed = await opened(world, me)
    async with world.units() as uow:
        assert await uow.support.move(closed.id, ["open"], "closed", NOW)
        await uow.commit()
    async with world.units.read() as uow:
        listed = await uow.support.tickets(["open", "assigned"], 10)
    assert [t.id for t in listed] == [high.id, normal.id]


async def test_a_ticket_moves_only_from_the_states_it_is_in(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        repo = uow.support
        assert not await repo.move(ticket.id, ["resolved"], "closed", LATER, closed_at=LATER)
        assert await repo.move(ticket.id, ["open"], "assigned", LATER, assignee_id=7)
        assert not await repo.move(ticket.id, ["open"], "assigned", LATER, assignee_id=8)
        assert not await repo.move(
            ticket.id, ["assigned"], "waiting", LATER, unassigned=True, assignee_id=9
        )
        assert not await repo.take_if_unassigned(ticket.id, 9, ["assigned"], LATER)
        await uow.commit()
    async with world.units.read() as uow:
        after = await uow.support.ticket(ticket.id)
    assert after is not None
    assert (after.status, after.assignee_id, after.updated_at) == ("assigned", 7, LATER)
    assert await _missing_ticket_moves(world) is False


async def _missing_ticket_moves(world: World) -> bool:
    async with world.units() as uow:
        return await uow.support.move(999, ["open"], "closed", NOW)


async def test_an_unassigned_ticket_is_taken_once(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        assert await uow.support.take_if_unassigned(ticket.id, 5, ["open"], LATER)
        assert not await uow.support.take_if_unassigned(ticket.id, 6, ["open"], LATER)
        await uow.commit()


async def test_a_resolved_ticket_is_rated_once(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        assert not await uow.support.rate(ticket.id, 5, NOW)  # not resolved yet
        assert await uow.support.move(ticket.id, ["open"], "resolved", NOW, resolved_at=NOW)
        assert await uow.support.rate(ticket.id, 4, LATER)
        assert not await uow.support.rate(ticket.id, 1, LATER)
        await uow.commit()
    async with world.units.read() as uow:
        after = await uow.support.ticket(ticket.id)
    assert after is not None and (after.csat, after.csat_at) == (4, LATER)


async def test_a_wait_is_escalated_once(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        repo = uow.support
        assert await repo.unanswered(NOW - timedelta(seconds=1), ["open"]) == []
        assert await repo.unanswered(NOW, ["open"]) == [ticket.id]
        assert await repo.unanswered(NOW, ["assigned"]) == []
        assert not await repo.escalate(ticket.id, NOW - timedelta(seconds=1), LATER)
        assert await repo.escalate(ticket.id, NOW, LATER)
        assert not await repo.escalate(ticket.id, LATER, LATER)
        assert await repo.unanswered(LATER, ["open"]) == []
        # A new wait (the customer wrote again) may be raised again.
        later = LATER + timedelta(minutes=1)
        assert await repo.move(ticket.id, ["open"], "open", later, waiting_since=later)
        assert await repo.escalate(ticket.id, later, later)
        await uow.commit()


async def test_resolved_tickets_are_found_by_when_they_were_resolved(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        assert await uow.support.move(ticket.id, ["open"], "resolved", NOW, resolved_at=NOW)
        assert await uow.support.resolved_before(NOW - timedelta(seconds=1)) == []
        assert await uow.support.resolved_before(NOW) == [ticket.id]
        await uow.commit()


async def test_the_outbox_gives_each_message_to_one_sender(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        await uow.support.add_message(to_staff(ticket.id, text="help"))
        await uow.support.add_message(to_staff(ticket.id, "refresh"))
        await uow.commit()
    async with world.units.read() as uow:
        card, refresh = await uow.support.pending(NOW, 10)
        assert [m.id for m in await uow.support.pending(NOW, 1)] == [card.id]
        assert await uow.support.without_topic() == [ticket.id]
    assert (card.kind, card.text, card.delivered, card.claimed_at) == ("card", "help", False, None)

    async def claim() -> bool:
        async with world.units() as uow:
            claimed = await uow.support.claim(card.id, NOW, NOW - timedelta(minutes=2))
            await uow.commit()
        return claimed

    assert sorted(await asyncio.gather(*(claim() for _ in range(4)))) == [False] * 3 + [True]
    async with world.units() as uow:
        repo = uow.support
        assert [m.id for m in await repo.pending(NOW, 10)] == [refresh.id]
        # A claim older than the stale limit is the sender's that died: it is claimed again.
        assert [m.id for m in await repo.pending(LATER, 10)] == [card.id, refresh.id]
        assert await repo.claim(card.id, LATER, LATER)
        await repo.set_message(
            card.id, delivered=True, sent_at=LATER, sent_chat_id=-100, sent_message_id=321
        )
        await repo.set_message(refresh.id, delivered=True, sent_at=LATER)
        assert not await repo.claim(card.id, LATER, LATER + timedelta(hours=1))
        await uow.commit()
    async with world.units.read() as uow:
        repo = uow.support
        assert await repo.pending(LATER + timedelta(hours=1), 10) == []
        assert await repo.ticket_of_sent(-100, 321) == ticket.id
        assert await repo.ticket_of_sent(-100, 322) is None
        assert await repo.card_message(ticket.id) == (-100, 321)
        assert await repo.without_topic() == []
        sent = await repo.message(card.id)
        assert sent is not None and sent.delivered and sent.sent_at == LATER
        assert await repo.message(999) is None


async def test_a_message_that_came_in_is_kept_once(world: World) -> None:
    ticket = await opened(world, await world.customer())
    incoming = to_staff(ticket.id, "customer", text="hi", source_chat_id=5, source_message_id=9)
    async with world.units() as uow:
        await uow.support.add_message(incoming)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            await uow.support.add_message(to_staff(ticket.id, "refresh"))
            await uow.support.add_message(incoming)
            await uow.commit()
    async with world.units.read() as uow:
        kept = await uow.support.transcript(ticket.id, ["customer", "refresh"])
    assert [(m.kind, m.text) for m in kept] == [("customer", "hi")]


async def test_the_transcript_is_the_tickets_messages_of_the_kinds_asked_in_order(
    world: World,
) -> None:
    me = await world.customer()
    ticket, other = await opened(world, me), await opened(world, me)
    async with world.units() as uow:
        for kind in ("card", "refresh", "customer"):
            await uow.support.add_message(to_staff(ticket.id, kind, text=kind))
        await uow.support.add_message(to_staff(other.id, text="theirs"))
        await uow.commit()
    async with world.units.read() as uow:
        lines = await uow.support.transcript(ticket.id, ["card", "customer"])
        assert await uow.support.card_message(ticket.id) is None  # not sent yet
    assert [m.text for m in lines] == ["card", "customer"]


async def test_a_topic_is_set_once(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        assert await uow.support.set_topic(ticket.id, 77)
        assert not await uow.support.set_topic(ticket.id, 78)
        await uow.commit()
    async with world.units.read() as uow:
        after = await uow.support.ticket(ticket.id)
    assert after is not None and after.thread_id == 77


async def test_an_order_is_rated_once_and_commented_once(world: World) -> None:
    me = await world.customer()
    order = await world.order(me)
    async with world.units() as uow:
        uow.support.add_rating(order, me, 4, NOW)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            uow.support.add_rating(order, me, 1, NOW)
            await uow.commit()
    async with world.units() as uow:
        assert not await uow.support.comment_rating(me + 1, order, "not mine")
        assert await uow.support.comment_rating(me, order, "fast")
        assert not await uow.support.comment_rating(me, order, "again")
        await uow.commit()
    async with world.units.read() as uow:
        rating = await uow.support.rating(order)
        assert await uow.support.rating(order + 1) is None
    assert rating is not None
    assert (rating.customer_id, rating.stars, rating.comment, rating.at) == (me, 4, "fast", NOW)


async def test_the_flood_quota_counts_within_its_window(world: World) -> None:
    me = await world.customer()
    later = NOW + timedelta(minutes=10)
    async with world.units() as uow:
        repo = uow.support
        assert not await repo.use_quota(me, NOW, 2)  # no counter yet
        await repo.open_quota(me, NOW)
        assert await repo.use_quota(me, NOW, 2)
        await repo.open_quota(me, NOW)  # an existing counter stays as it is
        assert await repo.use_quota(me, NOW, 2)
        assert not await repo.use_quota(me, NOW, 2)
        await repo.open_quota(me, later)
        assert await repo.use_quota(me, later, 2)
        await uow.commit()


async def test_staff_roles_are_granted_changed_and_revoked(world: World) -> None:
    async with world.units() as uow:
        repo = uow.support
        await repo.grant(11, "agent", NOW)
        await repo.grant(12, "supervisor", NOW)
        await uow.commit()
    async with world.units() as uow:
        repo = uow.support
        await repo.grant(11, "supervisor", LATER)
        assert await repo.revoke(12)
        assert not await repo.revoke(13)
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.support.role(11) == "supervisor"
        assert await uow.support.role(12) is None
        assert await uow.support.with_role("supervisor") == [11]


async def test_erasing_a_customer_blanks_their_words_and_keeps_the_figures(world: World) -> None:
    gone, stays = await world.customer(), await world.customer()
    order = await world.order(gone)
    mine, theirs = await opened(world, gone), await opened(world, stays)
    async with world.units() as uow:
        repo = uow.support
        await repo.add_message(to_staff(mine.id, text="my address"))
        await repo.add_message(
            to_staff(mine.id, "customer", text="my phone", source_chat_id=1, source_message_id=2)
        )
        await repo.add_message(NewTicketMessage(mine.id, "staff", "customer", NOW, text="answer"))
        await repo.add_message(to_staff(theirs.id, text="their words"))
        repo.add_suggestion(gone, "an idea", NOW)
        repo.add_rating(order, gone, 5, NOW)
        await uow.commit()
    async with world.units() as uow:
        assert await uow.support.comment_rating(gone, order, "my name is")
        await uow.support.erase_customer(gone, "[erased]", ["card", "customer"])
        await uow.commit()
    async with world.units.read() as uow:
        repo = uow.support
        lines = await repo.transcript(mine.id, ["card", "customer", "staff"])
        assert [m.text for m in lines] == ["[erased]", "[erased]", "answer"]
        assert [m.source_message_id for m in lines] == [None, None, None]
        assert [m.text for m in await repo.transcript(theirs.id, ["card"])] == ["their words"]
        kept, other = await repo.ticket(mine.id), await repo.ticket(theirs.id)
        rating = await repo.rating(order)
    assert kept is not None and kept.chat_id == 0 and kept.status == "open"
    assert other is not None and other.chat_id == 50
    assert rating is not None and (rating.stars, rating.comment) == (5, "[erased]")


async def test_one_unit_of_work_sees_its_own_writes_before_commit(world: World) -> None:
    ticket = await opened(world, await world.customer())
    async with world.units() as uow:
        repo: SupportRepository = uow.support
        assert await repo.move(ticket.id, ["open"], "waiting", LATER, waiting_since=None)
        after = await repo.ticket(ticket.id)
        assert after is not None and after.status == "waiting" and after.waiting_since is None
        await uow.rollback()
        again = await repo.ticket(ticket.id)
        assert again is not None and again.status == "open"
