"""Reminder sweeps never block the event loop: a chat is answered while 60,000 reminders are
planned and thousands sent."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

from bot.assembly import build_app
from scheduler.reminders import deliver_reminders, plan_reminders
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.heartbeat import Heartbeat
from tests.reminder_setup import (
    Clock,
    RecordingOutbox,
    beijing,
    campaign_file,
    load_campaign,
    many_subscribers,
)


async def test_a_customer_is_answered_while_a_big_sweep_runs(sqlite_url: str) -> None:
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    app = await build_app(make_settings(sqlite_url, demo_mode=True), clock=clock)
    try:
        text = campaign_file(beijing(2026, 11, 1, 0, 0), beijing(2026, 11, 11, 20, 0))
        campaign_id = await load_campaign(app, text)
        await many_subscribers(app, campaign_id, 20_000, clock.now)
        chat = Chat.of(app.conversation)
        # As the bot does once started (bot/cli.py): what was set up is never collected, so a
        # full collection of whatever earlier tests left behind does not stall the loop here.
        gc.collect()
        gc.freeze()
        with Heartbeat() as heartbeat:
            sweep = asyncio.create_task(plan_reminders(app.services))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            await chat.send("/start")
            answered_in = time.perf_counter() - started
            assert await sweep == 60_000
            clock.now = beijing(2026, 11, 10, 20, 0)
            outbox = RecordingOutbox(enough=20)
            sending = asyncio.create_task(deliver_reminders(app.services, outbox, batch=500))
            # Sending goes on beside the heartbeat until a few batches are out (however busy
            # the machine running the test is).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.reached.wait(), timeout=20)
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        assert chat.texts and answered_in < 1.0
        assert len(outbox.sent) > 20
        assert heartbeat.longest < 0.25, heartbeat.longest
    finally:
        gc.unfreeze()
        await app.close()
