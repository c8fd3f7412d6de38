"""What the reminder sweep and the push sweep share: claiming a batch of due messages and
sending it, each message recorded sent, blocked or failed in the same uninterruptible step
that sent it; a sweep cancelled midway gives its unsent messages back. A record the database
could not take (it went away just after the send) is kept and written when it is back
(`domain.services.pending_records`): the message is not sent again by this process when its
claim lapses meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Protocol, TypeVar

from domain.services.pending_records import PendingRecords
from handlers.contract import Delivery, DeliveryStatus, Reply
from handlers.outage import detail, refusal_cause
from handlers.outbound import SettlingNotifier, finish_even_if_cancelled


class DueMessage(Protocol):
    """A claimed outbox row to send now."""

    @property
    def outbox_id(self) -> int: ...

    @property
    def customer_id(self) -> int: ...

    @property
    def chat_id(self) -> int: ...


class Outbox(Protocol):
    """How a sender records what became of the messages it claimed."""

    async def sent(self, outbox_id: int, message_id: int | None) -> bool: ...

    async def blocked(self, outbox_id: int, customer_id: int, reason: str) -> None: ...

    async def failed(self, outbox_id: int, reason: str) -> None: ...

    async def release(self, outbox_ids: Sequence[int]) -> None: ...


Due = TypeVar("Due", bound=DueMessage)
Claim = TypeVar("Claim")


async def claim_whole(
    outbox: Outbox, claim: Awaitable[Claim], due_of: Callable[[Claim], Sequence[DueMessage]]
) -> Claim:
    """Run `claim`; cancelled meanwhile, the claim is finished and given back whole (a
    transaction cut off halfway would hold its locks, and its rows, until it timed out)."""
    task = asyncio.ensure_future(claim)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is None and due_of(task.result()):
            ids = [message.outbox_id for message in due_of(task.result())]
            await finish_even_if_cancelled(outbox.release(ids))
        raise


async def send_due(
    outbox: Outbox,
    notifier: SettlingNotifier,
    due: Sequence[Due],
    render: Callable[[Due], Reply],
    concurrency: int,
    *,
    what: str,
    log: logging.Logger,
    records: PendingRecords | None = None,
) -> int:
    """Send the claimed messages, at most `concurrency` under way at once, each rendered by
    `render`; how many were sent. What is left unsettled is given back. A message whose
    sending failed is logged to `log`, `what` naming it ("a reminder"). With `records`, what
    was sent is recorded even when the database goes away meanwhile (kept and written once it
    is back), and a message whose record is still kept is not sent again."""
    if records is not None:
        # Claimed again after its claim lapsed, while this process still keeps its record:
        # written now (or the sweep fails: the database is still away), never sent again.
        kept = {m.outbox_id for m in due if records.pending((what, m.outbox_id))}
        await records.flush()
        due = [message for message in due if message.outbox_id not in kept]
    unsettled = {message.outbox_id for message in due}
    gate = asyncio.Semaphore(concurrency)

    async def write(message: Due, delivery: Delivery) -> None:
        if delivery:
            await outbox.sent(message.outbox_id, delivery.message_id)
        elif delivery.status is DeliveryStatus.BLOCKED:
            await outbox.blocked(message.outbox_id, message.customer_id, delivery.reason)
        else:
            await outbox.failed(message.outbox_id, delivery.reason or delivery.status.value)

    async def one(message: Due) -> bool:
        async def settle(delivery: Delivery) -> None:
            # Never cut off halfway by a cancellation (a transaction left open holds the lock).
            await finish_even_if_cancelled(record(delivery))

        async def record(delivery: Delivery) -> None:
            if records is None:
                await write(message, delivery)
            else:
                await records.record((what, message.outbox_id), partial(write, message, delivery))
            unsettled.discard(message.outbox_id)

        async with gate:
            delivery = await notifier.send(message.chat_id, render(message), settle=settle)
            return bool(delivery)

    try:
        results = await asyncio.gather(*(one(message) for message in due), return_exceptions=True)
    except asyncio.CancelledError:
        # Every message under way was sent and recorded, or not sent: give the rest back.
        if unsettled:
            await finish_even_if_cancelled(outbox.release(sorted(unsettled)))
        raise
    for result in results:
        if isinstance(result, BaseException):
            if refusal_cause(result) is None:
                log.error("sending %s failed", what, exc_info=result)
            else:  # the database away: one line (the sweep's own failure says the rest)
                log.warning("sending %s failed: %s", what, detail(result))
    if unsettled:
        await outbox.release(sorted(unsettled))
    return sum(1 for result in results if result is True)
