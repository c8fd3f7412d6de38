"""Support sweeps: deliver ticket messages (the outbox), raise unanswered tickets to supervisors,
close resolved tickets after a while.

Delivery is a sweep over `ticket_messages` not yet delivered: each is claimed (a conditional
update, so two sweeps never both send it), sent through the outbound port, and marked delivered
with the message id it became; that id is how a staff reply finds its ticket. A send that may
work later (network, 429, no front end yet) is released for the next sweep; one that never will
(blocked, rejected) is given up. Messages of one ticket go in order to each place they go (the
customer, the staff chat, each supervisor): after one is held back, the rest of that ticket's
messages to the same place wait for the next sweep, and those to the others go on. So a message
to the customer never waits behind one to staff. Without a staff chat (no STAFF_CHAT_ID), what
would go there is given up at once (staff see tickets with /tickets and /ticket N). A record
the database could not take (it went away just after the send) is kept by the process and
written when it is back (`domain.services.pending_records`), and the message is not sent again
meanwhile, however long the outage; so is a forum topic opened. A sweep that dies between
sending and recording leaves the claim to go stale; the message is then sent again (at least
once, never lost).

A change of a ticket's state leaves a "refresh" row: the relay edits the ticket's card in the
staff chat (the message id its card became is stored) so its state line and buttons follow.

Languages: the staff chat gets the staff chat's language (STAFF_CHAT_LANGUAGE); a supervisor's
private escalation comes in the supervisor's own language; a customer gets theirs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from domain.services.customers import CustomerNotFound
from domain.services.registry import Services
from domain.services.support import Destination, MessageKind, Outgoing
from handlers.contract import Delivery, DeliveryStatus, MessageEditor, Notifier, Reply, TopicOpener
from handlers.features.staff_desk import card_reply
from handlers.i18n import Texts, texts
from handlers.support_views import category_name, customer_reply, staff_note, staff_texts
from scheduler.reminders import SchedulerLease, may_take_over

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffChat:
    """Where tickets go: the staff chat (None: nowhere yet), and whether it is a forum."""

    chat_id: int | None
    is_forum: bool = False


async def relay_support(
    services: Services,
    notifier: Notifier,
    staff: StaffChat,
    lease: SchedulerLease | None = None,
) -> int:
    """Deliver what is waiting; returns how many messages were sent. A message whose sender's
    claim went stale is taken over only once `lease` (when given) is settled."""
    take_over = may_take_over(lease)
    await services.pending_records.flush()  # what was kept while the database was away, first
    await _open_topics(services, notifier, staff)
    # (ticket, where its messages go) held back this sweep: later ones to the same place wait.
    held: set[tuple[int, Destination, int | None]] = set()
    sent = 0
    pending = await services.support.pending(take_over=take_over)
    # Of several refreshes of one card waiting, the last one is enough (it shows the state now).
    last_refresh = {o.ticket.id: o.id for o in pending if o.kind is MessageKind.REFRESH}
    for out in pending:
        ticket = out.ticket
        lane = (ticket.id, out.destination, out.to_chat_id)
        if lane in held:
            continue
        if services.pending_records.pending(_message(out.id)):
            continue  # sent; its record waits for the database (never sent again)
        if out.destination is Destination.STAFF and staff.chat_id is None:
            # No staff chat to post it in, now or later: staff work through /tickets.
            if await services.support.claim(out.id):
                await services.support.delivered(out.id, None, None)
            continue
        if out.kind is MessageKind.REFRESH:
            refreshed = await _refresh_card(
                services, notifier, out, last_refresh[ticket.id], take_over
            )
            if not refreshed:
                held.add(lane)
            continue
        chat_id = await _destination(services, out, staff)
        if chat_id is None:
            held.add(lane)
            continue
        if not await services.support.claim(out.id, take_over=take_over):
            continue
        reply = await _reply(services, out, staff)
        if reply is None:  # the customer erased their data: nobody to tell
            await services.support.delivered(out.id, chat_id, None)
            continue
        delivery = await notifier.send(chat_id, reply)
        if delivery:
            await _delivered(services, out.id, chat_id, delivery.message_id)
            sent += 1
        elif delivery.status in (DeliveryStatus.BLOCKED, DeliveryStatus.REJECTED):
            log.warning("ticket %s message %s given up: %s", ticket.id, out.id, delivery.reason)
            await _delivered(services, out.id, chat_id, None)
        else:
            await _release(services, out.id)
            held.add(lane)
    return sent


def _message(message_id: int) -> tuple[str, int]:
    return ("the ticket message", message_id)


async def _delivered(
    services: Services, message_id: int, chat_id: int | None, sent_id: int | None
) -> None:
    """Recorded sent (or given up): now, or as soon as the database takes it."""
    write = partial(services.support.delivered, message_id, chat_id, sent_id)
    await services.pending_records.record(_message(message_id), write)


async def _release(services: Services, message_id: int) -> None:
    """Not sent this time: the next sweep tries again (recorded as `_delivered` is)."""
    write = partial(services.support.release, message_id)
    await services.pending_records.record(_message(message_id), write)


async def sweep_support_sla(services: Services) -> tuple[int, int]:
    """Raise tickets unanswered past the first-response time to supervisors (once per wait) and
    close tickets resolved long enough ago. Returns (raised, closed)."""
    raised = await services.support.escalate_due(await services.staff.supervisors())
    closed = await services.support.close_resolved()
    if raised or closed:
        log.info("support: %d tickets raised to supervisors, %d closed", len(raised), closed)
    return len(raised), closed


async def _refresh_card(
    services: Services, notifier: Notifier, out: Outgoing, last: int, take_over: bool
) -> bool:
    """Edit the ticket's card in the staff chat to show its state now; False when it should be
    tried again (the ticket's later messages wait)."""
    if not await services.support.claim(out.id, take_over=take_over):
        return True
    card_at = await services.support.card_message(out.ticket.id)
    if out.id != last or card_at is None or not isinstance(notifier, MessageEditor):
        await services.support.delivered(out.id, None, None)  # nothing (more) to edit
        return True
    chat_id, message_id = card_at
    ticket = await services.support.get(out.ticket.id)
    card = await card_reply(services, ticket, _staff_chat_texts(services))
    delivery: Delivery = await notifier.edit_message(chat_id, message_id, card)
    if delivery or delivery.status in (DeliveryStatus.BLOCKED, DeliveryStatus.REJECTED):
        if not delivery:
            log.warning("ticket %s card not refreshed: %s", ticket.id, delivery.reason)
        await _delivered(services, out.id, None, None)
        return True
    await _release(services, out.id)
    return False


def _staff_chat_texts(services: Services) -> Texts:
    return staff_texts(services.support.config.staff_language)


async def _open_topics(services: Services, notifier: Notifier, staff: StaffChat) -> None:
    """One forum topic per ticket, opened before anything of the ticket is posted."""
    if staff.chat_id is None or not staff.is_forum or not isinstance(notifier, TopicOpener):
        return
    t = _staff_chat_texts(services)
    records = services.pending_records
    for ticket in await services.support.tickets_without_topic():
        topic = ("the staff chat topic of ticket", ticket.id)
        if records.pending(topic):
            continue  # opened; its record waits for the database (never opened twice)
        name = t("staff.topic", number=ticket.number, category=category_name(t, ticket.category))
        thread_id = await notifier.open_topic(staff.chat_id, name)
        if thread_id is not None:
            await records.record(topic, partial(services.support.set_topic, ticket.id, thread_id))


async def _destination(services: Services, out: Outgoing, staff: StaffChat) -> int | None:
    if out.destination is Destination.CUSTOMER:
        return out.ticket.chat_id
    if out.destination is Destination.PRIVATE:
        return out.to_chat_id
    if staff.chat_id is None:
        return None  # no staff chat: given up before it gets here
    if staff.is_forum and out.ticket.thread_id is None:
        return None  # its topic is not open yet
    return staff.chat_id


async def _reply(services: Services, out: Outgoing, staff: StaffChat) -> Reply | None:
    ticket = out.ticket
    if out.destination is Destination.CUSTOMER:
        try:
            customer = await services.customers.get(ticket.customer_id)
        except CustomerNotFound:
            return None
        return customer_reply(texts(customer.language), out)
    t = _staff_chat_texts(services)
    if out.destination is Destination.PRIVATE and out.to_chat_id is not None:
        own = await services.staff.language_of(out.to_chat_id)
        t = staff_texts(own) if own is not None else t
    thread_id = (
        ticket.thread_id if out.destination is Destination.STAFF and staff.is_forum else None
    )
    if out.kind is MessageKind.CARD:
        card = await card_reply(services, ticket, t)
        return Reply(card.text, card.buttons, thread_id=thread_id)
    if out.destination is Destination.PRIVATE:
        card = await card_reply(services, ticket, t)
        text = f"{staff_note(t, out)}\n\n{card.text}"[:4096]
        return Reply(text, card.buttons)
    return Reply(staff_note(t, out), thread_id=thread_id)
