"""Kill -9 a process in the middle of sending a broadcast; the next one sends each push exactly
once, and the killed process's claims take nothing twice from the daily cap."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bot import aiogram as aiogram_frontend
from bot.assembly import build_app
from scheduler.broadcasts import deliver_broadcasts, plan_broadcasts
from tests.broadcasts.setup import PUSH, STAFF_ID, customers, statuses
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = range(9101, 9109)

SENDS_UNTIL_KILLED = """
import asyncio

from bot import aiogram as aiogram_frontend
from bot.assembly import build_app
from bot.settings import Settings
from scheduler.broadcasts import deliver_broadcasts

async def main() -> None:
    settings = Settings()
    app = await build_app(settings)
    app.outbound.attach(aiogram_frontend.Sender(aiogram_frontend.build_bot(settings)))
    while True:
        await deliver_broadcasts(app.services, app.delivery, batch=3, concurrency=2)
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


async def test_pushes_cut_off_by_a_killed_process_are_each_sent_exactly_once(
    sqlite_url: str,
) -> None:
    limits: dict[str, Any] = {"quiet_hours": "off", "delivery_claim_seconds": 0.5}
    async with FakeBotApi(enforce_limits=True) as api:
        for telegram_id in CUSTOMERS:
            api.add_user(FakeUser(telegram_id, "客户"))
        settings = make_settings(
            sqlite_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url, **limits
        )
        app = await build_app(settings)
        await customers(app, CUSTOMERS)
        broadcast_id = await app.services.broadcasts.create(PUSH, STAFF_ID)
        assert await plan_broadcasts(app.services) == len(CUSTOMERS)

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
            if (await app.services.broadcasts.progress(broadcast_id)).sent == 4:
                break
            await asyncio.sleep(0.01)
        child.kill()  # SIGKILL: no clean-up of any kind
        await child.wait()
        api._methods["sendmessage"] = (name, send_message)
        assert sum(len(api.messages_to(n)) for n in CUSTOMERS) == 4
        assert (await statuses(app))["sending"] >= 1  # claims the killed process left behind

        # The next process: the killed one's claims lapse, and the rest goes out once.
        bot = aiogram_frontend.build_bot(settings)
        app.outbound.attach(aiogram_frontend.Sender(bot))
        try:
            sent = 0
            for _ in range(40):
                sent += await deliver_broadcasts(app.services, app.delivery)
                if sent >= len(CUSTOMERS) - 4:
                    break
                await asyncio.sleep(0.1)
            progress = await app.services.broadcasts.progress(broadcast_id)
        finally:
            await bot.session.close()
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
