"""Support use cases: suggestions, order ratings, complaint tickets and the staff who answer them.

Every message of a ticket is written, in the transaction that changes the ticket, as a row of
`ticket_messages` that says where it must go (the staff chat, the customer, a supervisor). A
sweep (scheduler/support.py) delivers those rows through the outbound port and records the
message each became, so the map from a staff chat message back to its ticket is in the database,
and a restart loses nothing: what was not delivered yet is delivered by the next sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.errors import RecordConflict
from domain.languages import DEFAULT_LANGUAGE, Language
from domain.repositories import (
    NewTicket,
    NewTicketMessage,
    SupportRepository,
    TicketRecord,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.services.pending_records import lapsed_by
from domain.tickets import (
    ACTIVE,
    Category,
    Priority,
    SupportStats,
    Ticket,
    TicketStatus,
    back_to_staff,
    check_transition,
    sources_of,
    support_stats,
)

log = logging.getLogger(__name__)

T = TicketStatus
ACTIVE_VALUES = sorted(s.value for s in ACTIVE)


class MessageKind(StrEnum):
    CARD = "card"  # a new ticket, to the staff chat
    CUSTOMER = "customer"  # the customer wrote, to the staff chat
    STAFF = "staff"  # staff answered, to the customer
    RESOLVED = "resolved"  # to the customer: resolved, rate us
    REOPENED = "reopened"  # to the staff chat
    CLOSED = "closed"  # the customer closed it, to the staff chat
    RATED = "rated"  # the customer's CSAT, to the staff chat
    ESCALATION = "escalation"  # unanswered too long, to the staff chat and supervisors
    # The ticket's state changed: its card in the staff chat is edited to show it (not sent).
    REFRESH = "refresh"


class Destination(StrEnum):
    STAFF = "staff"
    CUSTOMER = "customer"
    PRIVATE = "private"  # to_chat_id: a supervisor


TRANSCRIPT = (MessageKind.CARD, MessageKind.CUSTOMER, MessageKind.STAFF)


class SupportError(Exception):
    """A refusal; `reason` names a text."""

    reason = "error"


class TicketNotFound(SupportError):
    reason = "not_found"


class TicketNotActive(SupportError):
    """The ticket is past the point where this can be done (closed, or resolved)."""

    reason = "not_active"


class AlreadyTaken(SupportError):
    reason = "taken"

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(ticket.assignee_id)
        self.ticket = ticket


class Flooded(SupportError):
    """Too many support messages from one customer in a short while."""

    reason = "flooded"


class OrderNotTheirs(SupportError):
    reason = "order_not_found"


@dataclass(frozen=True)
class SupportConfig:
    # A customer waiting this long for staff is raised to supervisors.
    first_response: timedelta = timedelta(minutes=30)
    # A resolved ticket closes by itself after this long.
    auto_close: timedelta = timedelta(hours=48)
    # At most this many support messages (tickets, messages, suggestions) per window.
    flood_messages: int = 10
    flood_window: timedelta = timedelta(minutes=10)
    # A message claimed by a sweep this long ago and still not sent is sent again.
    stale_claim: timedelta = timedelta(minutes=2)
    # The average wait a new complaint is told is worked out again after this long at most.
    published_wait_refresh: timedelta = timedelta(minutes=1)
    # The language of what goes to the shared staff chat (private messages to a staff member
    # are in that person's own language).
    staff_language: Language = DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Outgoing:
    """One message of a ticket waiting to be delivered."""

    id: int
    ticket: Ticket
    kind: MessageKind
    text: str
    destination: Destination
    to_chat_id: int | None


@dataclass(frozen=True)
class TranscriptLine:
    kind: MessageKind
    text: str
    at: datetime


def first_response(row: TicketRecord, now: datetime) -> dict[str, Any]:
    """The values that record staff's first response to the ticket, now."""
    waited = max(0, round((now - row.created_at).total_seconds()))
    return {"first_response_at": now, "first_response_seconds": waited}


def ticket_of(row: TicketRecord) -> Ticket:
    return Ticket(
        id=row.id,
        customer_id=row.customer_id,
        chat_id=row.chat_id,
        category=Category(row.category),
        priority=Priority(row.priority),
        status=TicketStatus(row.status),
        created_at=row.created_at,
        order_id=row.order_id,
        assignee_id=row.assignee_id,
        first_response_at=row.first_response_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        csat=row.csat,
        thread_id=row.thread_id,
    )


class SupportService:
    def __init__(
        self, uow: UnitOfWorkFactory, config: SupportConfig | None = None, clock: Clock = utc_now
    ) -> None:
        self._uow = uow
        self.config = config or SupportConfig()
        self._clock = clock
        # The published average wait of each period asked for, and when it was worked out.
        self._published_waits: dict[int, tuple[datetime, timedelta | None]] = {}

    # -- customers: suggestions and ratings ---------------------------------------------------
    async def suggest(self, customer_id: int, text: str) -> None:
        async with self._uow() as uow:
            await self._use_quota(uow.support, customer_id)
            uow.support.add_suggestion(customer_id, text, self._clock())
            await uow.commit()

    async def rate_order(self, customer_id: int, order_id: int, stars: int) -> bool:
        """Rate one of the customer's own completed recharges, once; False when rated before."""
        if not 1 <= stars <= 5:
            raise ValueError(stars)
        async with self._uow() as uow:
            order = await uow.orders.get(order_id)
            if order is None or order.customer_id != customer_id or order.status != "completed":
                raise OrderNotTheirs(order_id)
            uow.support.add_rating(order_id, customer_id, stars, self._clock())
            try:
                await uow.commit()
            except RecordConflict:
                return False
        return True

    async def comment_order(self, customer_id: int, order_id: int, comment: str) -> bool:
        async with self._uow() as uow:
            done = await uow.support.comment_rating(customer_id, order_id, comment)
            await uow.commit()
        return done

    async def order_rating(self, order_id: int) -> tuple[int, str | None] | None:
        async with self._uow.read() as uow:
            row = await uow.support.rating(order_id)
            return (row.stars, row.comment) if row is not None else None

    # -- customers: tickets -------------------------------------------------------------------
    async def open_ticket(
        self,
        customer_id: int,
        chat_id: int,
        category: Category,
        text: str,
        *,
        order_id: int | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> Ticket:
        """A complaint becomes a ticket; its card goes to the staff chat. One unit of work:
        a complaint refused (flooding, an order not theirs) keeps nothing, not even the use of
        the customer's allowance."""
        now = self._clock()
        async with self._uow() as uow:
            await self._use_quota(uow.support, customer_id)
            if order_id is not None:
                order = await uow.orders.get(order_id)
                if order is None or order.customer_id != customer_id:
                    raise OrderNotTheirs(order_id)
            repo = uow.support
            row = await repo.open_ticket(
                NewTicket(
                    customer_id=customer_id,
                    chat_id=chat_id,
                    category=category.value,
                    priority=priority.value,
                    status=T.OPEN.value,
                    order_id=order_id,
                    at=now,
                )
            )
            await self._post(repo, row.id, MessageKind.CARD, Destination.STAFF, text=text)
            await uow.commit()
            return ticket_of(row)

    async def customer_message(
        self,
        customer_id: int,
        ticket_id: int,
        text: str,
        *,
        source_chat_id: int | None = None,
        source_message_id: int | None = None,
    ) -> Ticket:
        """The customer writes about their ticket: it goes to the staff chat, and a resolved
        ticket opens again. A closed one refuses (they open a new one)."""
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            await self._use_quota(repo, customer_id)
            row = await repo.own_ticket(customer_id, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            current = TicketStatus(row.status)
            if current is T.CLOSED:
                raise TicketNotActive(ticket_id)
            target = (
                current
                if current in (T.OPEN, T.ASSIGNED)
                else back_to_staff(row.assignee_id is not None)
            )
            values: dict[str, Any] = {}
            if row.waiting_since is None:
                values["waiting_since"] = now
            if current is T.RESOLVED:
                values["resolved_at"] = None
            if not await self._move(repo, ticket_id, [current], target, now, **values):
                raise TicketNotActive(ticket_id)  # it changed under us: let them try again
            if target is not current:
                await self._refresh(repo, ticket_id)
            try:
                await self._post(
                    repo,
                    ticket_id,
                    MessageKind.CUSTOMER,
                    Destination.STAFF,
                    text=text,
                    source=(source_chat_id, source_message_id),
                )
                await uow.commit()
            except RecordConflict:  # the same message delivered twice: kept once
                await uow.rollback()
            return await self._ticket(uow, ticket_id)

    async def close_by_customer(self, customer_id: int, ticket_id: int) -> Ticket:
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            row = await repo.own_ticket(customer_id, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            if await self._move(
                repo,
                ticket_id,
                sources_of(T.CLOSED),
                T.CLOSED,
                now,
                closed_at=now,
                waiting_since=None,
            ):
                await self._post(repo, ticket_id, MessageKind.CLOSED, Destination.STAFF)
                await self._refresh(repo, ticket_id)
                await uow.commit()
            return await self._ticket(uow, ticket_id)

    async def reopen_by_customer(self, customer_id: int, ticket_id: int) -> Ticket:
        """ "Not solved": a resolved ticket goes back to staff."""
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            row = await repo.own_ticket(customer_id, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            target = back_to_staff(row.assignee_id is not None)
            if not await self._move(
                repo,
                ticket_id,
                [T.RESOLVED],
                target,
                now,
                resolved_at=None,
                waiting_since=now,
            ):
                raise TicketNotActive(ticket_id)
            await self._post(repo, ticket_id, MessageKind.REOPENED, Destination.STAFF)
            await self._refresh(repo, ticket_id)
            await uow.commit()
            return await self._ticket(uow, ticket_id)

    async def rate_support(self, customer_id: int, ticket_id: int, stars: int) -> bool:
        """CSAT of a resolved ticket, once; it closes the ticket. False when rated before."""
        if not 1 <= stars <= 5:
            raise ValueError(stars)
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            row = await repo.own_ticket(customer_id, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            if row.resolved_at is None:
                raise TicketNotActive(ticket_id)
            rated = await repo.rate(ticket_id, stars, now)
            if not rated:
                return False
            await self._move(repo, ticket_id, [T.RESOLVED], T.CLOSED, now, closed_at=now)
            await self._post(repo, ticket_id, MessageKind.RATED, Destination.STAFF, text=str(stars))
            await self._refresh(repo, ticket_id)
            await uow.commit()
            return True

    async def tickets_of(self, customer_id: int, limit: int = 10) -> list[Ticket]:
        async with self._uow.read() as uow:
            rows = await uow.support.tickets_of(customer_id, limit)
            return [ticket_of(row) for row in rows]

    async def own_ticket(self, customer_id: int, ticket_id: int) -> Ticket:
        async with self._uow.read() as uow:
            row = await uow.support.own_ticket(customer_id, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            return ticket_of(row)

    async def ticket_answered_by(self, chat_id: int, message_id: int) -> int | None:
        """The ticket whose message `message_id` in `chat_id` was (None: no ticket's)."""
        async with self._uow.read() as uow:
            return await uow.support.ticket_of_sent(chat_id, message_id)

    async def average_first_response(self, days: int = 30) -> timedelta | None:
        """What the customer is told to expect: the average first response of late. The
        database averages it (a month of tickets is never read for it), once a minute at most
        (`published_wait_refresh`): every complaint opened in between is told the same."""
        now = self._clock()
        worked_out = self._published_waits.get(days)
        if worked_out is not None and now - worked_out[0] < self.config.published_wait_refresh:
            return worked_out[1]
        async with self._uow.read() as uow:
            seconds = await uow.support.first_response_average(now - timedelta(days=days))
        average = timedelta(seconds=round(seconds)) if seconds is not None else None
        self._published_waits[days] = (now, average)
        return average

    # -- staff --------------------------------------------------------------------------------
    async def get(self, ticket_id: int) -> Ticket:
        async with self._uow.read() as uow:
            return await self._ticket(uow, ticket_id)

    async def transcript(self, ticket_id: int) -> list[TranscriptLine]:
        async with self._uow.read() as uow:
            rows = await uow.support.transcript(ticket_id, [k.value for k in TRANSCRIPT])
        return [TranscriptLine(MessageKind(r.kind), r.text, r.created_at) for r in rows]

    async def tickets(self, statuses: frozenset[TicketStatus] = ACTIVE) -> list[Ticket]:
        async with self._uow.read() as uow:
            rows = await uow.support.tickets([s.value for s in statuses], 30)
            return [ticket_of(row) for row in rows]

    async def take(self, staff_id: int, ticket_id: int, staff_name: str = "") -> Ticket:
        """The staff member takes the ticket; of two taking it at once, one wins."""
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            taken = await self._move(
                repo,
                ticket_id,
                [T.OPEN],
                T.ASSIGNED,
                now,
                unassigned=True,
                assignee_id=staff_id,
            )
            if not taken:
                # A waiting ticket nobody took yet (answered before being taken) is taken too.
                taken = await repo.take_if_unassigned(ticket_id, staff_id, ACTIVE_VALUES, now)
            if taken:
                await self._refresh(repo, ticket_id)
                await _audit(uow, AuditAction.TICKET_TAKEN, staff_id, staff_name, ticket_id, now)
            await uow.commit()
            ticket = await self._ticket(uow, ticket_id)
        if not taken:
            if ticket.assignee_id == staff_id:
                return ticket
            if not ticket.active:
                raise TicketNotActive(ticket_id)
            raise AlreadyTaken(ticket)
        return ticket

    async def staff_reply(
        self,
        staff_id: int,
        ticket_id: int,
        text: str,
        *,
        source_chat_id: int,
        source_message_id: int,
        staff_name: str = "",
    ) -> Ticket | None:
        """Staff answered the ticket: relayed to the customer as "Support". None when this very
        message was relayed already (a duplicated update)."""
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            row = await repo.ticket(ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            current = TicketStatus(row.status)
            if current not in ACTIVE:
                raise TicketNotActive(ticket_id)
            values: dict[str, Any] = {"waiting_since": None}
            if row.first_response_at is None:
                values.update(first_response(row, now))
            if row.assignee_id is None:
                values["assignee_id"] = staff_id
            if not await self._move(repo, ticket_id, [current], T.WAITING, now, **values):
                raise TicketNotActive(ticket_id)
            if current is not T.WAITING or row.assignee_id is None:
                await self._refresh(repo, ticket_id)
            try:  # this very message relayed before conflicts: nothing of it is kept
                await self._post(
                    repo,
                    ticket_id,
                    MessageKind.STAFF,
                    Destination.CUSTOMER,
                    text=text,
                    author=staff_id,
                    source=(source_chat_id, source_message_id),
                )
                await _audit(uow, AuditAction.TICKET_REPLIED, staff_id, staff_name, ticket_id, now)
                await uow.commit()
            except RecordConflict:
                return None
            return await self._ticket(uow, ticket_id)

    async def resolve(self, staff_id: int, ticket_id: int, staff_name: str = "") -> Ticket:
        """Resolved: the customer is told and asked to rate the support (once)."""
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            row = await repo.ticket(ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            values: dict[str, Any] = {"resolved_at": now, "waiting_since": None}
            if row.first_response_at is None:
                values.update(first_response(row, now))
            if row.assignee_id is None:
                values["assignee_id"] = staff_id
            if not await self._move(
                repo, ticket_id, sources_of(T.RESOLVED, ACTIVE), T.RESOLVED, now, **values
            ):
                raise TicketNotActive(ticket_id)
            await self._post(repo, ticket_id, MessageKind.RESOLVED, Destination.CUSTOMER)
            await self._refresh(repo, ticket_id)
            await _audit(uow, AuditAction.TICKET_RESOLVED, staff_id, staff_name, ticket_id, now)
            await uow.commit()
            return await self._ticket(uow, ticket_id)

    async def reopen_by_staff(self, staff_id: int, ticket_id: int, staff_name: str = "") -> Ticket:
        now = self._clock()
        async with self._uow() as uow:
            repo = uow.support
            if not await self._move(
                repo,
                ticket_id,
                [T.RESOLVED, T.CLOSED],
                T.ASSIGNED,
                now,
                assignee_id=staff_id,
                resolved_at=None,
                closed_at=None,
            ):
                raise TicketNotActive(ticket_id)
            await self._refresh(repo, ticket_id)
            await _audit(uow, AuditAction.TICKET_REOPENED, staff_id, staff_name, ticket_id, now)
            await uow.commit()
            return await self._ticket(uow, ticket_id)

    async def stats(self, days: int) -> SupportStats:
        since = self._clock() - timedelta(days=days)
        async with self._uow.read() as uow:
            rows = await uow.support.opened_since(since)
            return support_stats([ticket_of(row) for row in rows])

    # -- sweeps -------------------------------------------------------------------------------
    async def escalate_due(self, supervisors: list[int]) -> list[Ticket]:
        """Tickets unanswered longer than the first-response time are raised, once per wait:
        a note in the staff chat and one to each supervisor."""
        now = self._clock()
        async with self._uow.read() as uow:
            due = await uow.support.unanswered(now - self.config.first_response, ACTIVE_VALUES)
        raised: list[Ticket] = []
        for ticket_id in due:
            async with self._uow() as uow:
                repo = uow.support
                if not await repo.escalate(ticket_id, now - self.config.first_response, now):
                    continue
                await self._post(repo, ticket_id, MessageKind.ESCALATION, Destination.STAFF)
                for supervisor in supervisors:
                    await self._post(
                        repo,
                        ticket_id,
                        MessageKind.ESCALATION,
                        Destination.PRIVATE,
                        to_chat_id=supervisor,
                    )
                escalated = AuditEntry(
                    AuditAction.TICKET_ESCALATED,
                    ActorKind.SYSTEM,
                    0,
                    f"ticket:{ticket_id}",
                    f"supervisors={len(supervisors)}",
                )
                await uow.audit.append(escalated, now)
                await uow.commit()
                raised.append(await self._ticket(uow, ticket_id))
        return raised

    async def close_resolved(self) -> int:
        """Resolved tickets close by themselves after the auto-close time."""
        now = self._clock()
        async with self._uow.read() as uow:
            due = await uow.support.resolved_before(now - self.config.auto_close)
        closed = 0
        for ticket_id in due:
            async with self._uow() as uow:
                repo = uow.support
                if await self._move(repo, ticket_id, [T.RESOLVED], T.CLOSED, now, closed_at=now):
                    await self._refresh(repo, ticket_id)
                    await uow.commit()
                    closed += 1
        return closed

    async def tickets_without_topic(self) -> list[Ticket]:
        async with self._uow.read() as uow:
            repo = uow.support
            return [await self._ticket(uow, i) for i in await repo.without_topic()]

    async def set_topic(self, ticket_id: int, thread_id: int) -> bool:
        async with self._uow() as uow:
            done = await uow.support.set_topic(ticket_id, thread_id)
            await uow.commit()
        return done

    async def pending(self, limit: int = 100, *, take_over: bool = True) -> list[Outgoing]:
        """Messages waiting to be sent: never claimed, given back, or (with `take_over`) whose
        sender's claim went stale."""
        stale = lapsed_by(self._clock(), take_over) - self.config.stale_claim
        async with self._uow.read() as uow:
            rows = await uow.support.pending(stale, limit)
            found = await uow.support.tickets_by_id({row.ticket_id for row in rows})
        tickets = {ticket_id: ticket_of(row) for ticket_id, row in found.items()}
        return [
            Outgoing(
                row.id,
                tickets[row.ticket_id],  # a message's ticket is never deleted
                MessageKind(row.kind),
                row.text,
                Destination(row.destination),
                row.to_chat_id,
            )
            for row in rows
        ]

    async def claim(self, message_id: int, *, take_over: bool = True) -> bool:
        """True once per delivery attempt: the caller that gets True sends the message. A
        stale claim of another sender is taken over only with `take_over`."""
        now = self._clock()
        stale = lapsed_by(now, take_over) - self.config.stale_claim
        async with self._uow() as uow:
            claimed = await uow.support.claim(message_id, now, stale)
            await uow.commit()
        return claimed

    async def delivered(self, message_id: int, chat_id: int | None, sent_id: int | None) -> None:
        """Sent (or given up when `sent_id` is None): never sent again. The sent message now
        leads back to its ticket."""
        async with self._uow() as uow:
            await uow.support.set_message(
                message_id,
                delivered=True,
                sent_at=self._clock(),
                sent_chat_id=chat_id if sent_id is not None else None,
                sent_message_id=sent_id,
            )
            await uow.commit()

    async def release(self, message_id: int) -> None:
        """Not sent this time; the next sweep tries again."""
        async with self._uow() as uow:
            await uow.support.set_message(message_id, claimed_at=None)
            await uow.commit()

    async def card_message(self, ticket_id: int) -> tuple[int, int] | None:
        """The (chat, message) the ticket's card became in the staff chat; None if not sent."""
        async with self._uow.read() as uow:
            return await uow.support.card_message(ticket_id)

    # -- helpers ------------------------------------------------------------------------------
    async def _refresh(self, repo: SupportRepository, ticket_id: int) -> None:
        """The ticket's state changed: its card in the staff chat is to be edited to match."""
        await self._post(repo, ticket_id, MessageKind.REFRESH, Destination.STAFF)

    async def _post(
        self,
        repo: SupportRepository,
        ticket_id: int,
        kind: MessageKind,
        destination: Destination,
        *,
        text: str = "",
        author: int | None = None,
        to_chat_id: int | None = None,
        source: tuple[int | None, int | None] = (None, None),
    ) -> None:
        await repo.add_message(
            NewTicketMessage(
                ticket_id=ticket_id,
                kind=kind.value,
                destination=destination.value,
                at=self._clock(),
                text=text,
                author_id=author,
                to_chat_id=to_chat_id,
                source_chat_id=source[0] if source[1] is not None else None,
                source_message_id=source[1],
            )
        )

    @staticmethod
    async def _ticket(uow: UnitOfWork, ticket_id: int) -> Ticket:
        row = await uow.support.ticket(ticket_id)
        if row is None:
            raise TicketNotFound(ticket_id)
        return ticket_of(row)

    @staticmethod
    async def _move(
        repo: SupportRepository,
        ticket_id: int,
        sources: Iterable[str],
        target: TicketStatus,
        at: datetime,
        *,
        unassigned: bool = False,
        **values: object,
    ) -> bool:
        """The one way a ticket changes state: each transition checked against the state
        machine (staying in a state is no transition), then applied conditionally."""
        states = [TicketStatus(source) for source in sources]
        for state in states:
            if state is not target:
                check_transition(state, target)
        return await repo.move(
            ticket_id,
            [state.value for state in states],
            target.value,
            at,
            unassigned=unassigned,
            **values,
        )

    async def _use_quota(self, repo: SupportRepository, customer_id: int) -> None:
        """One support message of the customer's allowance in this window, or Flooded; kept
        with what the use case's unit of work commits."""
        now = self._clock()
        window = self.config.flood_window.total_seconds()
        start = datetime.fromtimestamp(now.timestamp() // window * window, UTC)
        await repo.open_quota(customer_id, start)
        if not await repo.use_quota(customer_id, start, self.config.flood_messages):
            raise Flooded(customer_id)


async def _audit(
    uow: UnitOfWork,
    action: AuditAction,
    staff_id: int,
    staff_name: str,
    ticket_id: int,
    at: datetime,
) -> None:
    """A staff action on a ticket, recorded in the transaction that takes it."""
    entry = AuditEntry(action, ActorKind.STAFF, staff_id, f"ticket:{ticket_id}", "", staff_name)
    await uow.audit.append(entry, at)
