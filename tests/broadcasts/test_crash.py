"""Kill -9 a process in the middle of sending a broadcast through either front end's sender; the
next one, sending through the same front end's sender, sends each push exactly once, and the
killed process's claims take nothing twice from the daily cap."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.assembly import build_app
from scheduler.broadcasts import deliver_broadcasts, plan_broadcasts
from tests.broadcasts.setup import PUSH, STAFF_ID, customers, statuses
from tests.killed_sender import (
    ANSWERED,
    FRAMEWORKS,
    kill_while_sending,
    limited_api,
    next_process_sends,
)

CUSTOMERS = range(9101, 9109)


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_pushes_cut_off_by_a_killed_process_are_each_sent_exactly_once(
    sqlite_url: str, framework: str
) -> None:
    async with limited_api(sqlite_url, CUSTOMERS) as (api, settings):
        app = await build_app(settings)
        await customers(app, CUSTOMERS)
        broadcast_id = await app.services.broadcasts.create(PUSH, STAFF_ID)
        assert await plan_broadcasts(app.services) == len(CUSTOMERS)

        # The fifth message never gets an answer: the process is killed while it waits.
        async def recorded_sent() -> int:
            return (await app.services.broadcasts.progress(broadcast_id)).sent

        await kill_while_sending(
            api, sqlite_url, CUSTOMERS, deliver_broadcasts, recorded_sent, framework
        )
        assert sum(len(api.messages_to(n)) for n in CUSTOMERS) == ANSWERED
        assert (await statuses(app))["sending"] >= 1  # claims the killed process left behind

        # The next process: the killed one's claims lapse, and the rest goes out once.
        try:
            await next_process_sends(
                app,
                settings,
                deliver_broadcasts,
                len(CUSTOMERS) - ANSWERED,
                framework=framework,
            )
            progress = await app.services.broadcasts.progress(broadcast_id)
        finally:
            await app.close()
    delivered = Counter(n for n in CUSTOMERS for _ in api.messages_to(n))
    assert delivered == {n: 1 for n in CUSTOMERS}
    # Nobody was refused by the daily cap: the reclaimed pushes had taken theirs already.
    assert (progress.sent, progress.queued, progress.failed, progress.skipped) == (
        len(CUSTOMERS),
        0,
        0,
        {},
    )
    assert api.too_many_requests == 0
