"""Support queries over one unit of work. They never commit; the unit of work does.

A complaint's own writes (the flood quota, the ticket, its messages) are Core statements on the
unit's connection: no ORM object is made for them. The staff's side reads through the session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, insert, or_, select, update

from domain.persistence.core import OnConflict, Repository, bound, prefixed
from domain.persistence.support_tables import (
    OrderRatingRow,
    StaffRoleRow,
    SuggestionRow,
    SupportQuotaRow,
    TicketMessageRow,
    TicketRow,
)
from domain.repositories import (
    NewTicket,
    NewTicketMessage,
    OrderRatingRecord,
    TicketMessageRecord,
    TicketRecord,
)

_TICKET = tuple(f.name for f in fields(TicketRecord))
_MESSAGE = tuple(f.name for f in fields(TicketMessageRecord))
_RATING = tuple(f.name for f in fields(OrderRatingRecord))


def ticket_record(row: TicketRow) -> TicketRecord:
    return TicketRecord(**{name: getattr(row, name) for name in _TICKET})


def message_record(row: TicketMessageRow) -> TicketMessageRecord:
    return TicketMessageRecord(**{name: getattr(row, name) for name in _MESSAGE})


def _tickets(rows: Iterable[TicketRow]) -> list[TicketRecord]:
    return [ticket_record(row) for row in rows]


# A ticket's columns in the order of `TicketRecord`'s fields: many tickets are read as plain
# rows through these (no ORM object made for each), and made records by `plain_tickets`.
TICKET_COLUMNS = tuple(TicketRow.__table__.c[name] for name in _TICKET)


def plain_tickets(rows: Iterable[Sequence[Any]]) -> list[TicketRecord]:
    """The records of tickets read as rows of `TICKET_COLUMNS`."""
    return [TicketRecord(*row) for row in rows]


_TICKET_TABLE = cast(Table, TicketRow.__table__)
_MESSAGE_TABLE = cast(Table, TicketMessageRow.__table__)
_QUOTA_TABLE = cast(Table, SupportQuotaRow.__table__)

_OPEN_TICKET = (
    insert(_TICKET_TABLE)
    .values(
        bound(
            (
                "customer_id",
                "chat_id",
                "category",
                "priority",
                "status",
                "order_id",
                "created_at",
                "updated_at",
                "waiting_since",
            )
        )
    )
    .returning(*TICKET_COLUMNS)
)

_ADD_MESSAGE = insert(_MESSAGE_TABLE).values(
    bound(
        (
            "ticket_id",
            "kind",
            "author_id",
            "text",
            "source_chat_id",
            "source_message_id",
            "destination",
            "to_chat_id",
            "created_at",
            "delivered",
        )
    )
)

# The window's counter at zero; one that exists already is left as it is (on PostgreSQL an
# insert racing another for the same window waits for it, then does nothing).
_OPEN_QUOTA = OnConflict(
    lambda insert_into: (
        insert_into(_QUOTA_TABLE)
        .values(bound(("customer_id", "window_start", "used")))
        .on_conflict_do_nothing()
    )
)

_USE_QUOTA = (
    update(_QUOTA_TABLE)
    .where(
        _QUOTA_TABLE.c.customer_id == bindparam("of_customer"),
        _QUOTA_TABLE.c.window_start == bindparam("of_window"),
        _QUOTA_TABLE.c.used < bindparam("limit"),
    )
    .values(used=_QUOTA_TABLE.c.used + 1)
    .returning(_QUOTA_TABLE.c.customer_id)
)


def _messages(rows: Iterable[TicketMessageRow]) -> list[TicketMessageRecord]:
    return [message_record(row) for row in rows]


class SupportRepository(Repository):
    # -- tickets ------------------------------------------------------------------------------
    def add_suggestion(self, customer_id: int, text: str, at: datetime) -> None:
        self._session.add(SuggestionRow(customer_id=customer_id, text=text, at=at))

    def add_rating(self, order_id: int, customer_id: int, stars: int, at: datetime) -> None:
        """A rating of an order; a second of the same order breaks a unique key on commit."""
        self._session.add(
            OrderRatingRow(order_id=order_id, customer_id=customer_id, stars=stars, at=at)
        )

    async def open_ticket(self, ticket: NewTicket) -> TicketRecord:
        row = await (await self._core()).row(
            _OPEN_TICKET,
            **prefixed(
                {
                    "customer_id": ticket.customer_id,
                    "chat_id": ticket.chat_id,
                    "category": ticket.category,
                    "priority": ticket.priority,
                    "status": ticket.status,
                    "order_id": ticket.order_id,
                    "created_at": ticket.at,
                    "updated_at": ticket.at,
                    "waiting_since": ticket.at,
                }
            ),
        )
        assert row is not None  # INSERT ... RETURNING returns the row it inserted
        return plain_tickets([row])[0]

    async def add_message(self, message: NewTicketMessage) -> None:
        """A message of a ticket, not yet delivered; one whose source (chat and message) is
        kept already is a `RecordConflict`, raised at once."""
        await (await self._core()).run(
            _ADD_MESSAGE,
            **prefixed(
                {
                    "ticket_id": message.ticket_id,
                    "kind": message.kind,
                    "author_id": message.author_id,
                    "text": message.text,
                    "source_chat_id": message.source_chat_id,
                    "source_message_id": message.source_message_id,
                    "destination": message.destination,
                    "to_chat_id": message.to_chat_id,
                    "created_at": message.at,
                    "delivered": False,
                }
            ),
        )

    async def ticket(self, ticket_id: int) -> TicketRecord | None:
        row = await self._session.get(TicketRow, ticket_id, populate_existing=True)
        return ticket_record(row) if row is not None else None

    async def tickets_by_id(self, ticket_ids: Iterable[int]) -> dict[int, TicketRecord]:
        wanted = set(ticket_ids)
        if not wanted:
            return {}
        rows = await self._session.execute(select(*TICKET_COLUMNS).where(TicketRow.id.in_(wanted)))
        return {ticket.id: ticket for ticket in plain_tickets(rows)}

    async def own_ticket(self, customer_id: int, ticket_id: int) -> TicketRecord | None:
        """The ticket only when it is this customer's: anybody else's is not found."""
        row = await self._session.scalar(
            select(TicketRow).where(TicketRow.id == ticket_id, TicketRow.customer_id == customer_id)
        )
        return ticket_record(row) if row is not None else None

    async def tickets_of(self, customer_id: int, limit: int) -> list[TicketRecord]:
        rows = await self._session.scalars(
            select(TicketRow)
            .where(TicketRow.customer_id == customer_id)
            .order_by(TicketRow.id.desc())
            .limit(limit)
        )
        return _tickets(rows)

    async def tickets(self, statuses: Iterable[str], limit: int) -> list[TicketRecord]:
        rows = await self._session.scalars(
            select(TicketRow)
            .where(TicketRow.status.in_(list(statuses)))
            .order_by(TicketRow.priority.asc(), TicketRow.id.asc())
            .limit(limit)
        )
        return _tickets(rows)

    async def opened_since(self, since: datetime) -> list[TicketRecord]:
        rows = await self._session.execute(
            select(*TICKET_COLUMNS).where(TicketRow.created_at >= since)
        )
        return plain_tickets(rows)

    async def first_response_average(self, since: datetime) -> float | None:
        average = await self._session.scalar(
            select(func.avg(TicketRow.first_response_seconds)).where(TicketRow.created_at >= since)
        )
        return float(average) if average is not None else None

    async def move(
        self,
        ticket_id: int,
        sources: Iterable[str],
        target: str,
        at: datetime,
        *,
        unassigned: bool = False,
        **values: object,
    ) -> bool:
        """Move the ticket to `target` only if it is in one of `sources` now (and nobody took
        it, when `unassigned`), in one statement: of two concurrent attempts exactly one
        succeeds."""
        conditions = [TicketRow.assignee_id.is_(None)] if unassigned else []
        result = await self._session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.status.in_(list(sources)), *conditions)
            .values(status=target, updated_at=at, **values)
            .returning(TicketRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def rate(self, ticket_id: int, stars: int, at: datetime) -> bool:
        """The customer's rating of a resolved ticket, once."""
        return await self.set_values(
            ticket_id,
            TicketRow.csat.is_(None),
            TicketRow.resolved_at.is_not(None),
            csat=stars,
            csat_at=at,
        )

    async def take_if_unassigned(
        self, ticket_id: int, staff_id: int, statuses: Iterable[str], at: datetime
    ) -> bool:
        """A ticket in `statuses` that nobody took yet is taken by `staff_id`, once."""
        return await self.set_values(
            ticket_id,
            TicketRow.assignee_id.is_(None),
            TicketRow.status.in_(list(statuses)),
            assignee_id=staff_id,
            updated_at=at,
        )

    async def escalate(self, ticket_id: int, waiting_since_before: datetime, at: datetime) -> bool:
        """A ticket whose customer has waited since before `waiting_since_before` is raised,
        once per wait."""
        return await self.set_values(
            ticket_id,
            TicketRow.waiting_since.is_not(None),
            TicketRow.waiting_since <= waiting_since_before,
            (TicketRow.escalated_at.is_(None)) | (TicketRow.escalated_at < TicketRow.waiting_since),
            escalated_at=at,
        )

    async def set_topic(self, ticket_id: int, thread_id: int) -> bool:
        """The staff chat's topic of the ticket, set once."""
        return await self.set_values(ticket_id, TicketRow.thread_id.is_(None), thread_id=thread_id)

    async def set_values(
        self, ticket_id: int, *conditions: ColumnElement[bool], **values: object
    ) -> bool:
        result = await self._session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, *conditions)
            .values(**values)
            .returning(TicketRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def unanswered(self, waited_since: datetime, statuses: Iterable[str]) -> list[int]:
        """Active tickets whose customer has waited since before `waited_since`, not yet
        raised for this wait."""
        rows = await self._session.scalars(
            select(TicketRow.id).where(
                TicketRow.status.in_(list(statuses)),
                TicketRow.waiting_since <= waited_since,
                or_(
                    TicketRow.escalated_at.is_(None),
                    TicketRow.escalated_at < TicketRow.waiting_since,
                ),
            )
        )
        return list(rows)

    async def resolved_before(self, before: datetime) -> list[int]:
        rows = await self._session.scalars(
            select(TicketRow.id).where(
                TicketRow.status == "resolved", TicketRow.resolved_at <= before
            )
        )
        return list(rows)

    async def without_topic(self) -> list[int]:
        """Tickets with something waiting to go to the staff chat but no forum topic yet."""
        rows = await self._session.scalars(
            select(TicketRow.id)
            .join(TicketMessageRow, TicketMessageRow.ticket_id == TicketRow.id)
            .where(
                TicketRow.thread_id.is_(None),
                TicketMessageRow.destination == "staff",
                TicketMessageRow.delivered.is_(False),
            )
            .distinct()
        )
        return list(rows)

    # -- messages -----------------------------------------------------------------------------
    async def message(self, message_id: int) -> TicketMessageRecord | None:
        row = await self._session.get(TicketMessageRow, message_id, populate_existing=True)
        return message_record(row) if row is not None else None

    async def pending(self, stale_before: datetime, limit: int) -> list[TicketMessageRecord]:
        """Messages not yet delivered, oldest first, not claimed (or claimed too long ago by a
        sweep that died mid-send)."""
        rows = await self._session.scalars(
            select(TicketMessageRow)
            .where(
                TicketMessageRow.delivered.is_(False),
                or_(
                    TicketMessageRow.claimed_at.is_(None),
                    TicketMessageRow.claimed_at < stale_before,
                ),
            )
            .order_by(TicketMessageRow.id)
            .limit(limit)
        )
        return _messages(rows)

    async def claim(self, message_id: int, at: datetime, stale_before: datetime) -> bool:
        claimed = await (await self._core()).row(
            update(TicketMessageRow)
            .where(
                TicketMessageRow.id == message_id,
                TicketMessageRow.delivered.is_(False),
                or_(
                    TicketMessageRow.claimed_at.is_(None),
                    TicketMessageRow.claimed_at < stale_before,
                ),
            )
            .values(claimed_at=at)
            .returning(TicketMessageRow.id)
        )
        return claimed is not None

    async def set_message(self, message_id: int, **values: object) -> None:
        await (await self._core()).run(
            update(TicketMessageRow).where(TicketMessageRow.id == message_id).values(**values)
        )

    async def ticket_of_sent(self, chat_id: int, message_id: int) -> int | None:
        """The ticket whose message became `message_id` in `chat_id` (the stored map)."""
        return await self._session.scalar(
            select(TicketMessageRow.ticket_id).where(
                TicketMessageRow.sent_chat_id == chat_id,
                TicketMessageRow.sent_message_id == message_id,
            )
        )

    async def transcript(self, ticket_id: int, kinds: Iterable[str]) -> list[TicketMessageRecord]:
        rows = await self._session.scalars(
            select(TicketMessageRow)
            .where(TicketMessageRow.ticket_id == ticket_id, TicketMessageRow.kind.in_(list(kinds)))
            .order_by(TicketMessageRow.id)
        )
        return _messages(rows)

    async def card_message(self, ticket_id: int) -> tuple[int, int] | None:
        """Where the ticket's card went in the staff chat: (chat, message), None if not sent."""
        found = (
            await self._session.execute(
                select(TicketMessageRow.sent_chat_id, TicketMessageRow.sent_message_id)
                .where(
                    TicketMessageRow.ticket_id == ticket_id,
                    TicketMessageRow.kind == "card",
                    TicketMessageRow.destination == "staff",
                    TicketMessageRow.sent_message_id.is_not(None),
                )
                .order_by(TicketMessageRow.id)
                .limit(1)
            )
        ).first()
        if found is None or found[0] is None or found[1] is None:
            return None
        return int(found[0]), int(found[1])

    # -- erasure ------------------------------------------------------------------------------
    async def erase_customer(self, customer_id: int, marker: str, texts: Iterable[str]) -> None:
        """Blank what the customer wrote (their tickets' free text of kinds `texts`, their
        suggestions, their rating comments) with `marker`, and forget their chat: the ticket
        rows, states, times and ratings stay for the support figures."""
        tickets = select(TicketRow.id).where(TicketRow.customer_id == customer_id)
        await self._session.execute(
            update(TicketMessageRow)
            .where(TicketMessageRow.ticket_id.in_(tickets), TicketMessageRow.kind.in_(list(texts)))
            .values(text=marker)
            .execution_options(synchronize_session=False)
        )
        # Their private chat id is their Telegram id: the messages that came from or went to it
        # no longer lead anywhere.
        await self._session.execute(
            update(TicketMessageRow)
            .where(
                TicketMessageRow.ticket_id.in_(tickets),
                or_(
                    TicketMessageRow.destination == "customer",
                    and_(
                        TicketMessageRow.kind == "customer",
                        TicketMessageRow.source_message_id.is_not(None),
                    ),
                ),
            )
            .values(
                source_chat_id=None,
                source_message_id=None,
                sent_chat_id=None,
                sent_message_id=None,
            )
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(TicketRow)
            .where(TicketRow.customer_id == customer_id)
            .values(chat_id=0)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(SuggestionRow)
            .where(SuggestionRow.customer_id == customer_id)
            .values(text=marker)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(OrderRatingRow)
            .where(OrderRatingRow.customer_id == customer_id, OrderRatingRow.comment.is_not(None))
            .values(comment=marker)
            .execution_options(synchronize_session=False)
        )

    # -- ratings ------------------------------------------------------------------------------
    async def rating(self, order_id: int) -> OrderRatingRecord | None:
        row = await self._session.get(OrderRatingRow, order_id, populate_existing=True)
        if row is None:
            return None
        return OrderRatingRecord(**{name: getattr(row, name) for name in _RATING})

    async def comment_rating(self, customer_id: int, order_id: int, comment: str) -> bool:
        result = await self._session.execute(
            update(OrderRatingRow)
            .where(
                OrderRatingRow.order_id == order_id,
                OrderRatingRow.customer_id == customer_id,
                OrderRatingRow.comment.is_(None),
            )
            .values(comment=comment)
            .returning(OrderRatingRow.order_id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    # -- flood quota --------------------------------------------------------------------------
    async def use_quota(self, customer_id: int, window_start: datetime, limit: int) -> bool:
        """One more message in this window if fewer than `limit` were used (conditional)."""
        row = await (await self._core()).row(
            _USE_QUOTA, of_customer=customer_id, of_window=window_start, limit=limit
        )
        return row is not None

    async def open_quota(self, customer_id: int, window_start: datetime) -> None:
        """The window's counter, at zero unless it exists already (then left as it is), so
        that the conditional update that follows always finds it."""
        await (await self._core()).run(
            _OPEN_QUOTA,
            **prefixed({"customer_id": customer_id, "window_start": window_start, "used": 0}),
        )

    # -- staff roles --------------------------------------------------------------------------
    async def role(self, telegram_id: int) -> str | None:
        return await self._session.scalar(
            select(StaffRoleRow.role).where(StaffRoleRow.telegram_id == telegram_id)
        )

    async def with_role(self, role: str) -> list[int]:
        rows = await self._session.scalars(
            select(StaffRoleRow.telegram_id).where(StaffRoleRow.role == role)
        )
        return list(rows)

    async def grant(self, telegram_id: int, role: str, at: datetime) -> None:
        row = await self._session.get(StaffRoleRow, telegram_id)
        if row is None:
            self._session.add(StaffRoleRow(telegram_id=telegram_id, role=role, granted_at=at))
        else:
            row.role = role
            row.granted_at = at

    async def revoke(self, telegram_id: int) -> bool:
        row = await self._session.get(StaffRoleRow, telegram_id)
        if row is None:
            return False
        await self._session.delete(row)
        return True
