"""Kill -9 a process in the middle of sending reminders; the next one sends each exactly once."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from bot import aiogram as aiogram_frontend
from bot.assembly import build_app
from domain.persistence.reminder_tables import ReminderSubscriptionRow
from scheduler.reminders import deliver_reminders, plan_reminders
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.reminder_setup import campaign_file, load_campaign, subscribed_customers

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = range(9001, 9009)

SENDS_UNTIL_KILLED = """
import asyncio
from sqlalchemy import update

from bot import aiogram as aiogram_frontend
from bot.assembly import build_app
from bot.settings import Settings
from domain.persistence.reminder_tables import ReminderSubscriptionRow
from scheduler.reminders import deliver_reminders

async def main() -> None:
    settings = Settings()
    app = await build_app(settings)
    app.outbound.attach(aiogram_frontend.Sender(aiogram_frontend.build_bot(settings)))
    while True:
        await deliver_reminders(app.services, app.delivery, batch=3, concurrency=2)
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


async def test_reminders_cut_off_by_a_killed_process_are_each_sent_exactly_once(
    sqlite_url: str,
) -> None:
    now = datetime.now(UTC)
    limits: dict[str, Any] = {"quiet_hours": "off", "delivery_claim_seconds": 0.5}
    async with FakeBotApi(enforce_limits=True) as api:
        for telegram_id in CUSTOMERS:
            api.add_user(FakeUser(telegram_id, "客户"))
        settings = make_settings(
            sqlite_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url, **limits
        )
        app = await build_app(settings)
        campaign = campaign_file(
            now - timedelta(days=1), now + timedelta(hours=1), countdown="[120]"
        )
        campaign_id = await load_campaign(app, campaign)
        await subscribed_customers(app, campaign_id, CUSTOMERS)
        async with app.engine.begin() as connection:  # they asked before "2 hours left"
            await connection.execute(
                update(ReminderSubscriptionRow).values(created_at=now - timedelta(hours=2))
            )
        assert await plan_reminders(app.services) == len(CUSTOMERS)

        # The fifth message never gets an answer: the process is killed while it waits.
        name, send_message = api._methods["sendmessage"]
        held = asyncio.Event()

        async def hold_the_fifth(params: dict[str, Any]) -> Any:
            if sum(len(api.messages_to(n)) for n in CUSTOMERS) >= 4:
                held.set()
                await asyncio.Event().wait()
            return await send_message(params)

        api._methods["sendmessage"] = (name, hold_the_fifth)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_"))},
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": sqlite_url,
            "BOT_TOKEN": api.token,
            "TELEGRAM_API_URL": api.base_url,
            "QUIET_HOURS": "off",
            "DELIVERY_CLAIM_SECONDS": "0.5",
            "LOG_LEVEL": "WARNING",
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDS_UNTIL_KILLED, env=env, cwd=ROOT
        )
        await asyncio.wait_for(held.wait(), timeout=30)
        for _ in range(100):  # the four answered are recorded; the fifth is on its way
            if (await app.services.reminders.progress())[0].sent == 4:
                break
            await asyncio.sleep(0.01)
        child.kill()  # SIGKILL: no clean-up of any kind
        await child.wait()
        api._methods["sendmessage"] = (name, send_message)
        assert sum(len(api.messages_to(n)) for n in CUSTOMERS) == 4

        # The next process: the killed one's claims lapse, and the rest goes out once.
        bot = aiogram_frontend.build_bot(settings)
        app.outbound.attach(aiogram_frontend.Sender(bot))
        try:
            sent = 0
            for _ in range(40):
                sent += await deliver_reminders(app.services, app.delivery)
                if sent >= len(CUSTOMERS) - 4:
                    break
                await asyncio.sleep(0.1)
            [progress] = await app.services.reminders.progress()
        finally:
            await bot.session.close()
            await app.close()
    delivered = Counter(n for n in CUSTOMERS for _ in api.messages_to(n))
    assert delivered == {n: 1 for n in CUSTOMERS}
    assert (progress.sent, progress.pending, progress.failed) == (len(CUSTOMERS), 0, 0)
    assert api.too_many_requests == 0
