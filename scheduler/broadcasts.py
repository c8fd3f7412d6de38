"""Broadcast sweeps: plan the outbox of each broadcast whose time has come, then send the
queued pushes, once each.

Both are plain coroutines over database rows, safe to run twice, at once or after a crash:

* planning inserts outbox rows under a unique key (broadcast, customer), in short batches that
  leave the event loop free, so running it again adds nothing;
* sending claims rows (`sending`, until a deadline) by a conditional update, so two processes
  never take the same row, sends each through the rate-limited delivery port and records it
  sent in the same uninterruptible step; a sweep cancelled midway gives its unsent rows back,
  and the rows of a process killed with `kill -9` are taken again when their claim lapses.

As with reminders, the one window left is a process killed after Telegram accepted a message and
before the database recorded it (milliseconds): that push is sent again after the restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from domain.services.broadcasts import Claimed, DuePush, SentPush
from domain.services.registry import Services
from handlers.contract import DeliveryStatus, MessageDeleter, Reply
from handlers.features.broadcasts import push_reply
from handlers.i18n import texts
from handlers.outbound import SettlingNotifier
from scheduler.outbox import claim_whole, send_due
from scheduler.reminders import SchedulerLease, may_take_over

log = logging.getLogger(__name__)

CLAIM_BATCH = 200
# Messages under way at once; the port's limiter decides when each goes.
CONCURRENCY = 64


async def plan_broadcasts(services: Services, lease: SchedulerLease | None = None) -> int:
    if lease is not None and not await lease.held():
        return 0
    planned = await services.broadcasts.plan()
    if planned:
        log.info("planned %d pushes", planned)
    return planned


async def deliver_broadcasts(
    services: Services,
    notifier: SettlingNotifier,
    lease: SchedulerLease | None = None,
    *,
    batch: int = CLAIM_BATCH,
    concurrency: int = CONCURRENCY,
) -> int:
    """Send every queued push of the broadcasts being sent; returns how many were sent."""
    sent = 0
    while lease is None or await lease.held():
        claimed = await _claim(services, batch, may_take_over(lease))
        if not claimed.taken:
            break
        if claimed.due:
            sent += await _send(services, notifier, claimed.due, concurrency)
    await services.broadcasts.finish()
    return sent


async def sweep_broadcasts(
    services: Services, notifier: SettlingNotifier, lease: SchedulerLease | None = None
) -> int:
    """The scheduler's job: plan, send, then delete what staff took back."""
    await plan_broadcasts(services, lease)
    sent = await deliver_broadcasts(services, notifier, lease)
    if isinstance(notifier, MessageDeleter):
        await delete_broadcasts(services, notifier, lease)
    return sent


async def delete_broadcasts(
    services: Services,
    deleter: MessageDeleter,
    lease: SchedulerLease | None = None,
    *,
    batch: int = CLAIM_BATCH,
    concurrency: int = CONCURRENCY,
) -> int:
    """Delete from their chats the pushes of broadcasts staff took back; how many were. A
    message Telegram will not delete (gone already, or too old) is recorded with the reason;
    one that may be deleted later (network, 429) is tried again by the next sweep."""
    deleted = 0
    gate = asyncio.Semaphore(concurrency)

    async def one(push: SentPush) -> bool:
        async with gate:
            delivery = await deleter.remove_message(push.chat_id, push.message_id)
        if delivery:
            await services.broadcasts.unsent(push.outbox_id)
            return True
        if delivery.status in (DeliveryStatus.REJECTED, DeliveryStatus.BLOCKED):
            await services.broadcasts.unsent(push.outbox_id, delivery.reason or "refused")
            return False
        await services.broadcasts.unsend_later([push.outbox_id])
        return False

    while lease is None or await lease.held():
        claimed = await services.broadcasts.claim_unsend(batch)
        if not claimed:
            break
        results = await asyncio.gather(*(one(push) for push in claimed), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("deleting a push failed", exc_info=result)
        deleted += sum(1 for result in results if result is True)
        if all(result is not True for result in results):
            break  # nothing could be deleted now: the next sweep tries again
    return deleted


def _renderer(services: Services) -> Callable[[DuePush], Reply]:
    """How each push reads in its customer's language (deep links need the bot's name)."""

    def render(push: DuePush) -> Reply:
        return push_reply(texts(push.language), push, services.broadcasts.bot_username)

    return render


async def _claim(services: Services, batch: int, take_over: bool) -> Claimed:
    """Claim queued pushes; cancelled meanwhile, the claim is given back whole."""
    outbox = services.broadcasts
    claim = outbox.claim_due(batch, take_over=take_over)
    return await claim_whole(outbox, claim, lambda claimed: claimed.due)


async def _send(
    services: Services, notifier: SettlingNotifier, due: list[DuePush], concurrency: int
) -> int:
    return await send_due(
        services.broadcasts,
        notifier,
        due,
        _renderer(services),
        concurrency,
        what="a push",
        log=log,
        records=services.pending_records,
    )
