"""The daily digest sweep: once the local time of day of the digest has come, yesterday's
figures go to the staff chat through the delivery port, once a day however many processes
run and restart (the day's digest is claimed first, and recorded sent by the same step that
sent it; a record the database could not take just then is kept and written when it is back,
and the digest is not sent again meanwhile)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time
from functools import partial
from zoneinfo import ZoneInfo

from domain.services.registry import Services
from handlers.contract import Delivery, DeliveryStatus
from handlers.features.digest import digest_reply
from handlers.i18n import texts
from handlers.outbound import SettlingNotifier, finish_even_if_cancelled
from scheduler.reminders import SchedulerLease, may_take_over

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestSchedule:
    at: time  # local time of day
    zone: ZoneInfo
    # The dashboard's address in the digest (None: no link).
    dashboard_url: str | None = None


async def send_daily_digest(
    services: Services,
    outbox: SettlingNotifier,
    staff_chat_id: int,
    schedule: DigestSchedule,
    lease: SchedulerLease | None = None,
) -> bool:
    """Send yesterday's digest if its time has come and nobody sent it yet; True when this
    sweep delivered it. Another sender's lapsed claim is taken over only once `lease` (when
    given) is settled."""
    digests = services.digests
    records = services.pending_records
    await records.flush()  # what was kept while the database was away, first
    day = digests.due(schedule.at, schedule.zone)
    if day is None:
        return False
    key = ("the daily digest of", day)
    if records.pending(key) or not await digests.claim(day, take_over=may_take_over(lease)):
        return False  # sent (its record waits for the database), or another sender's
    settled = False

    async def settle(delivery: Delivery) -> None:
        # Written now, or kept and written as soon as the database takes it.
        nonlocal settled
        settled = True
        if delivery:
            await records.record(key, partial(digests.sent, day, delivery.message_id))
        elif delivery.status in (DeliveryStatus.BLOCKED, DeliveryStatus.REJECTED):
            # Telegram will not take it (the bot is not in the chat, the chat is wrong): the
            # day's digest is given up rather than refused again every minute.
            log.error("the daily digest of %s was refused by the staff chat: %s", day, delivery)
            await records.record(key, partial(digests.sent, day, None))
        else:
            await records.record(key, partial(digests.release, day))

    try:
        figures = await digests.figures(day, schedule.zone)
        language = services.support.config.staff_language
        reply = digest_reply(texts(language), figures, schedule.dashboard_url)
        delivery = await outbox.send(staff_chat_id, reply, settle=settle)
    finally:
        if not settled:  # not sent (or not yet known to be): the next sweep tries again
            await finish_even_if_cancelled(digests.release(day))
    if delivery:
        log.info("the daily digest of %s went to the staff chat", day)
    return bool(delivery)
