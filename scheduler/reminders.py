"""Reminder sweeps: plan what is due into the outbox, then send what is due, once each.

Both are plain coroutines over database rows, safe to run twice or after a crash:

* planning inserts outbox rows under a unique key (campaign, customer, reminder), so running it
  again adds nothing;
* sending claims due rows (`sending`, until a deadline), sends each through the rate-limited
  port and records it sent in the same uninterruptible step; a sweep cancelled midway gives its
  unsent rows back, and the rows of a killed process become due again when its claim lapses.

The one window that remains is a process killed after Telegram accepted a message and before
the database recorded it (milliseconds): that message is sent again after the restart. The Bot
API has no idempotency key that would close it.

Only the process holding the scheduler lease (a row in the database) runs these sweeps.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.clock import Clock, utc_now
from domain.observations import UNOBSERVED, Observations
from domain.services.pending_records import WRITTEN_WITHIN
from domain.services.registry import Services
from domain.services.reminders import DueReminder
from handlers.contract import Reply
from handlers.features.reminders import reminder_reply
from handlers.i18n import texts
from handlers.outage import OutageLog
from handlers.outbound import SettlingNotifier
from scheduler.outbox import claim_whole, send_due

log = logging.getLogger(__name__)

CLAIM_BATCH = 200
# How long a process holds the lease without a break before taking over lapsed claims.
TAKE_OVER_AFTER = WRITTEN_WITHIN
# Messages under way at once; the port's limiter decides when each goes.
CONCURRENCY = 64


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class SchedulerLease:
    """This process's claim to run the sweeps; renewed by every sweep that asks.

    A sweep takes over the lapsed claim of another process (a receipt, a reminder, a push, a
    ticket message, the digest that it claimed and did not record) only once this process has
    held the lease without a break for `take_over_after` (`settled`): after an outage, or when
    the lease changed hands, a process that sent a message just before the database went away
    is given that long to write what it kept (it does so within a second of the database
    answering again), so the message is not sent a second time."""

    services: Services
    seconds: float
    holder: str = field(default_factory=process_name)

    # A database outage stops every sweep here: logged when it starts and when it ends.
    outage: OutageLog = field(default_factory=lambda: OutageLog("sweeps"))
    # Told whether this process holds the lease, each time it asks.
    observed: Observations = UNOBSERVED
    clock: Clock = utc_now
    # How long the lease is held without a break before lapsed claims are taken over.
    take_over_after: timedelta = TAKE_OVER_AFTER
    # When this process's unbroken hold of the lease began (None: not held, or the last ask
    # failed).
    held_since: datetime | None = None

    async def held(self) -> bool:
        try:
            held = await self.services.reminders.hold_lease(self.holder, self.seconds)
        except Exception as error:
            self.held_since = None
            self.outage.failed(error, "taking the scheduler lease", only_the_database=True)
            self.observed.lease(False)
            return False
        self.outage.succeeded()
        self.observed.lease(held)
        if not held:
            self.held_since = None
        elif self.held_since is None:
            self.held_since = self.clock()
        return held

    @property
    def settled(self) -> bool:
        """Whether this process's sweeps may take over lapsed claims of other processes."""
        since = self.held_since
        return since is not None and self.clock() - since >= self.take_over_after

    async def release(self) -> None:
        self.observed.lease(False)
        self.held_since = None
        try:
            await self.services.reminders.release_lease(self.holder)
        except Exception:
            log.exception("giving the scheduler lease up failed")


def may_take_over(lease: SchedulerLease | None) -> bool:
    """Whether a sweep under `lease` may take over lapsed claims (always without a lease: one
    process, whose own kept records are written before it claims anything)."""
    return lease is None or lease.settled


async def plan_reminders(services: Services, lease: SchedulerLease | None = None) -> int:
    """Plan every reminder now known; returns how many were added."""
    if lease is not None and not await lease.held():
        return 0
    planned = await services.reminders.plan()
    if planned:
        log.info("planned %d reminders", planned)
    return planned


async def deliver_reminders(
    services: Services,
    notifier: SettlingNotifier,
    lease: SchedulerLease | None = None,
    *,
    batch: int = CLAIM_BATCH,
    concurrency: int = CONCURRENCY,
) -> int:
    """Send every due reminder; returns how many were sent."""
    sent = 0
    while lease is None or await lease.held():
        due = await _claim(services, batch, may_take_over(lease))
        if not due:
            break
        sent += await _send(services, notifier, due, concurrency)
    return sent


async def sweep_reminders(
    services: Services, notifier: SettlingNotifier, lease: SchedulerLease | None = None
) -> int:
    """The scheduler's job: plan, then send."""
    await plan_reminders(services, lease)
    return await deliver_reminders(services, notifier, lease)


def _render(reminder: DueReminder) -> Reply:
    return reminder_reply(texts(reminder.language), reminder)


async def _claim(services: Services, batch: int, take_over: bool) -> list[DueReminder]:
    """Claim due reminders; cancelled meanwhile, the claim is given back whole."""
    outbox = services.reminders
    claim = outbox.claim_due(batch, take_over=take_over)
    return await claim_whole(outbox, claim, lambda due: due)


async def _send(
    services: Services, notifier: SettlingNotifier, due: list[DueReminder], concurrency: int
) -> int:
    return await send_due(
        services.reminders,
        notifier,
        due,
        _render,
        concurrency,
        what="a reminder",
        log=log,
        records=services.pending_records,
    )
