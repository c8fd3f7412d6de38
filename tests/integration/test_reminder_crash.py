"""Kill -9 a process in the middle of sending reminders; the next one sends each exactly once."""

from __future__ import annotations

from collections import Counter

from bot.assembly import build_app
from scheduler.reminders import deliver_reminders, plan_reminders
from tests.killed_sender import ANSWERED, kill_while_sending, limited_api, next_process_sends
from tests.reminder_setup import countdown_due_now

CUSTOMERS = range(9001, 9009)


async def test_reminders_cut_off_by_a_killed_process_are_each_sent_exactly_once(
    sqlite_url: str,
) -> None:
    async with limited_api(sqlite_url, CUSTOMERS) as (api, settings):
        app = await build_app(settings)
        await countdown_due_now(app, CUSTOMERS)
        assert await plan_reminders(app.services) == len(CUSTOMERS)

        # The fifth message never gets an answer: the process is killed while it waits.
        async def recorded_sent() -> int:
            return (await app.services.reminders.progress())[0].sent

        await kill_while_sending(api, sqlite_url, CUSTOMERS, deliver_reminders, recorded_sent)
        assert sum(len(api.messages_to(n)) for n in CUSTOMERS) == ANSWERED

        # The next process: the killed one's claims lapse, and the rest goes out once.
        try:
            await next_process_sends(app, settings, deliver_reminders, len(CUSTOMERS) - ANSWERED)
            [progress] = await app.services.reminders.progress()
        finally:
            await app.close()
    delivered = Counter(n for n in CUSTOMERS for _ in api.messages_to(n))
    assert delivered == {n: 1 for n in CUSTOMERS}
    assert (progress.sent, progress.pending, progress.failed) == (len(CUSTOMERS), 0, 0)
    assert api.too_many_requests == 0
