"""The in-process scheduler and its sweeps.

Every job is a sweep over rows in the database that is safe to run twice; no job is pickled
per customer. Sweeps are plain coroutines, so tests call them directly with a fake clock.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from domain.observations import Observations
from domain.services.registry import Services
from handlers.contract import Notifier
from handlers.features.points import lapse_warning
from handlers.features.recharge import outcome_reply
from handlers.i18n import texts
from handlers.outbound import SettlingNotifier
from scheduler.broadcasts import sweep_broadcasts
from scheduler.digest import DigestSchedule, send_daily_digest
from scheduler.notify import send_claimed, tell_customer
from scheduler.referrals import sweep_referrals
from scheduler.reminders import SchedulerLease, may_take_over, sweep_reminders
from scheduler.risk import sweep_risk
from scheduler.support import StaffChat, relay_support, sweep_support_sla

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    conversation_idle_seconds: float
    housekeeping_interval_seconds: float
    order_sweep_seconds: float = 15.0
    points_sweep_seconds: float = 3600.0
    points_warn_days: int = 14
    referral_sweep_seconds: float = 10.0
    risk_sweep_seconds: float = 5.0
    support_relay_seconds: float = 3.0
    support_sla_seconds: float = 60.0
    staff_chat: StaffChat = field(default_factory=lambda: StaffChat(None))
    reminder_sweep_seconds: float = 30.0
    scheduler_lease_seconds: float = 60.0
    broadcast_sweep_seconds: float = 5.0
    # Personal data of customers inactive this many days is erased (0: never).
    privacy_retention_days: int = 0
    privacy_retention_sweep_seconds: float = 3600.0
    # The staff chat's daily digest (None: none), looked for this often.
    digest: DigestSchedule | None = None
    digest_sweep_seconds: float = 60.0
    # The order changes noted for the dashboard's roll-ups are folded into them this often.
    rollup_fold_seconds: float = 2.0


async def reset_abandoned_conversations(services: Services, idle_seconds: float) -> int:
    count = await services.conversations.reset_abandoned(idle_seconds)
    if count:
        log.info("reset %d abandoned conversations to the menu", count)
    return count


async def sweep_retention(services: Services, retention_days: int) -> int:
    """Erase the personal data of customers inactive for `retention_days` (as /delete_my_data
    does; financial records stay, anonymised)."""
    count = await services.privacy.erase_inactive(timedelta(days=retention_days))
    if count:
        log.info("erased the personal data of %d customers inactive %d days", count, retention_days)
    return count


async def fold_rollups(services: Services) -> int:
    """Fold the order changes noted since the last fold into the dashboard's roll-ups."""
    return await services.figures.fold()


async def sweep_orders(
    services: Services, notifier: Notifier, lease: SchedulerLease | None = None
) -> int:
    """Expire unpaid orders, carry paid ones on, and tell customers how theirs ended.

    Returns how many customers were told. Each outcome is claimed before it is sent, so two
    sweeps never send it twice, and marked told only once it was delivered; one that could
    not be is released to try again, and one whose sender stopped midway is sent again when
    its claim lapses, once the `lease` (when given) is `settled`.
    """
    expired = await services.fulfilment.expire_due()
    moved = await services.paying.recover()
    if expired or moved:
        log.info("orders: %d expired, %d moved on", len(expired), len(moved))
    take_over = may_take_over(lease)
    told = 0
    ended = await services.outcomes.unnotified_outcomes(take_over=take_over)
    languages = await services.customers.languages(o.customer_id for o in ended)
    for order in ended:
        if not await services.outcomes.claim_outcome(order.id, take_over=take_over):
            continue  # another sweep or the customer's own turn is telling them
        language = languages.get(order.customer_id)
        if language is None or order.chat_id is None:  # erased, or no chat: nobody to tell
            await services.outcomes.outcome_told(order.id)
            continue
        reply = outcome_reply(texts(language), order)
        if await notifier.send(order.chat_id, reply):
            await services.outcomes.outcome_told(order.id)
            told += 1
        else:
            await services.outcomes.release_outcome(order.id)
    return told


async def sweep_points(services: Services, notifier: Notifier, warn_within: timedelta) -> int:
    """Lapse points past their date, and warn customers whose points lapse soon (once each:
    a warning is claimed before it is sent, and given back when it did not go out, even when
    the database went away meanwhile).

    Returns how many customers were warned.
    """
    records = services.pending_records
    await records.flush()  # what was kept while the database was away, first
    lapsed = await services.loyalty.expire_points()
    if lapsed:
        log.info("%d points lapsed", lapsed)
    warned = 0
    for customer_id, points, when in await services.loyalty.lapse_warnings(warn_within):
        # Not delivered: the next sweep tries again (kept if the database is away meanwhile).
        sent = await send_claimed(
            records,
            ("the points-lapse warning of customer", customer_id, when.date()),
            partial(
                tell_customer,
                services,
                notifier,
                customer_id,
                partial(lapse_warning, points=points, when=when),
            ),
            partial(services.loyalty.unclaim_warning, customer_id, when),
        )
        if sent:
            warned += 1
    return warned


Sweep = Callable[..., Awaitable[object]]


def timed(observed: Observations, sweep: Sweep) -> Sweep:
    """The sweep, its duration told to the operators by its name (each run, held or not)."""

    @functools.wraps(sweep)
    async def measured(*args: object) -> object:
        started = time.perf_counter()
        try:
            return await sweep(*args)
        finally:
            observed.sweep(sweep.__name__, time.perf_counter() - started)

    return measured


def through_outage(lease: SchedulerLease, sweep: Sweep) -> Sweep:
    """The sweep, a failure of which for want of the database is one WARNING line (the
    outage's, `handlers.outage`) rather than the scheduler's traceback; other failures are
    raised to the scheduler as before."""

    @functools.wraps(sweep)
    async def guarded(*args: object) -> object:
        try:
            return await sweep(*args)
        except Exception as error:
            if not lease.outage.absorbed(error, f"the sweep {sweep.__name__}"):
                raise
            return None

    return guarded


def under_lease(lease: SchedulerLease, sweep: Sweep) -> Sweep:
    """The sweep, run only by the process holding the scheduler lease (renewing it): with
    several bot processes, exactly one scheduler is active at a time."""

    @functools.wraps(sweep)
    async def leased(*args: object) -> object:
        if not await lease.held():
            return None
        return await sweep(*args)

    return leased


def build_scheduler(
    services: Services,
    schedule: Schedule,
    notifier: Notifier,
    *,
    outbox: SettlingNotifier | None = None,
    lease: SchedulerLease | None = None,
) -> AsyncIOScheduler:
    """A scheduler with every sweep registered; the caller starts and shuts it down.

    The order sweep also runs at once on start, so orders interrupted by a restart go on.
    Every sweep runs only in the process holding the scheduler lease (see `under_lease`).
    Reminders, pushes and the staff chat's daily digest are sent when `outbox` (the
    rate-limited delivery port) is given.
    """
    scheduler = AsyncIOScheduler(timezone="UTC")
    common = {"max_instances": 1, "coalesce": True, "replace_existing": True}
    held = lease or SchedulerLease(services, schedule.scheduler_lease_seconds)

    def guarded(sweep: Sweep) -> Sweep:
        """The sweep timed, and a failure of it for want of the database one log line."""
        return timed(held.observed, through_outage(held, sweep))

    def leased(sweep: Sweep) -> Sweep:
        """`guarded`, run only by the process holding the scheduler lease."""
        return guarded(under_lease(held, sweep))

    scheduler.add_job(
        leased(reset_abandoned_conversations),
        "interval",
        seconds=schedule.housekeeping_interval_seconds,
        args=(services, schedule.conversation_idle_seconds),
        id="reset_abandoned_conversations",
        **common,
    )
    scheduler.add_job(
        leased(sweep_orders),
        "interval",
        seconds=schedule.order_sweep_seconds,
        args=(services, notifier, held),
        id="sweep_orders",
        next_run_time=datetime.now(UTC),
        **common,
    )
    scheduler.add_job(
        leased(fold_rollups),
        "interval",
        seconds=schedule.rollup_fold_seconds,
        args=(services,),
        id="fold_rollups",
        **common,
    )
    scheduler.add_job(
        leased(sweep_points),
        "interval",
        seconds=schedule.points_sweep_seconds,
        args=(services, notifier, timedelta(days=schedule.points_warn_days)),
        id="sweep_points",
        **common,
    )
    scheduler.add_job(
        leased(sweep_referrals),
        "interval",
        seconds=schedule.referral_sweep_seconds,
        args=(services, notifier, schedule.staff_chat.chat_id),
        id="sweep_referrals",
        **common,
    )
    scheduler.add_job(
        leased(sweep_risk),
        "interval",
        seconds=schedule.risk_sweep_seconds,
        args=(services, notifier, schedule.staff_chat.chat_id),
        id="sweep_risk",
        **common,
    )
    scheduler.add_job(
        leased(relay_support),
        "interval",
        seconds=schedule.support_relay_seconds,
        args=(services, notifier, schedule.staff_chat, held),
        id="relay_support",
        next_run_time=datetime.now(UTC),
        **common,
    )
    scheduler.add_job(
        leased(sweep_support_sla),
        "interval",
        seconds=schedule.support_sla_seconds,
        args=(services,),
        id="sweep_support_sla",
        **common,
    )
    if schedule.privacy_retention_days > 0:
        scheduler.add_job(
            leased(sweep_retention),
            "interval",
            seconds=schedule.privacy_retention_sweep_seconds,
            args=(services, schedule.privacy_retention_days),
            id="sweep_retention",
            **common,
        )
    if outbox is not None:
        scheduler.add_job(
            guarded(sweep_reminders),
            "interval",
            seconds=schedule.reminder_sweep_seconds,
            args=(services, outbox, held),
            id="sweep_reminders",
            next_run_time=datetime.now(UTC),
            **common,
        )
        scheduler.add_job(
            guarded(sweep_broadcasts),
            "interval",
            seconds=schedule.broadcast_sweep_seconds,
            args=(services, outbox, held),
            id="sweep_broadcasts",
            next_run_time=datetime.now(UTC),
            **common,
        )
        staff_chat_id = schedule.staff_chat.chat_id
        if schedule.digest is not None and staff_chat_id is not None:
            scheduler.add_job(
                leased(send_daily_digest),
                "interval",
                seconds=schedule.digest_sweep_seconds,
                args=(services, outbox, staff_chat_id, schedule.digest, held),
                id="send_daily_digest",
                next_run_time=datetime.now(UTC),
                **common,
            )
    return scheduler
