"""The process holding the scheduler lease is killed with SIGKILL while it sends reminders, on
PostgreSQL: no other process sends while the lease is still the dead holder's, another takes
the sweeps over once the lease has lapsed (and the dead holder's lapsed claims once it has held
the lease for its take-over time), and every reminder reaches its customer once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest

from bot.assembly import build_app
from scheduler.reminders import SchedulerLease, deliver_reminders, plan_reminders
from tests.killed_sender import ANSWERED, kill_while_sending, limited_api, next_process_sends
from tests.reminder_setup import countdown_due_now
from tests.scale.conftest import needs_postgres

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(60)]

CUSTOMERS = range(9201, 9209)
LEASE_SECONDS = 2.0
TAKE_OVER_AFTER = 0.5


async def test_a_killed_lease_holders_sweeps_are_taken_over_and_nothing_is_sent_twice(
    postgres_url: str,
) -> None:
    async with limited_api(postgres_url, CUSTOMERS) as (api, settings):
        app = await build_app(settings)
        try:
            await countdown_due_now(app, CUSTOMERS)
            assert await plan_reminders(app.services) == len(CUSTOMERS)

            async def recorded_sent() -> int:
                return (await app.services.reminders.progress())[0].sent

            # The holder sends four and is killed while Telegram has the fifth.
            await kill_while_sending(
                api,
                postgres_url,
                CUSTOMERS,
                deliver_reminders,
                recorded_sent,
                lease_seconds=LEASE_SECONDS,
            )
            killed_at = time.monotonic()
            successor = SchedulerLease(
                app.services,
                LEASE_SECONDS,
                holder="successor",
                take_over_after=timedelta(seconds=TAKE_OVER_AFTER),
            )
            assert not await successor.held()  # still the dead holder's
            assert await deliver_reminders(app.services, app.delivery, successor) == 0

            await next_process_sends(
                app, settings, deliver_reminders, len(CUSTOMERS) - ANSWERED, successor
            )
            taken_over_after = time.monotonic() - killed_at
            [progress] = await app.services.reminders.progress()
        finally:
            await app.close()
    delivered = Counter(n for n in CUSTOMERS for _ in api.messages_to(n))
    assert delivered == {n: 1 for n in CUSTOMERS}
    assert (progress.sent, progress.pending, progress.failed) == (len(CUSTOMERS), 0, 0)
    # Within the lease time and the take-over time (and the successor's tenth-of-a-second
    # rounds) of the kill.
    assert taken_over_after < LEASE_SECONDS + TAKE_OVER_AFTER + 1.5
    assert api.too_many_requests == 0
