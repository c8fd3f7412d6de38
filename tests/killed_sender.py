"""A sending process killed with SIGKILL while Telegram is answering its fifth message, for the
tests proving that the next process sends every message exactly once (broadcasts, reminders)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from bot import aiogram as aiogram_frontend
from bot.assembly import App
from bot.ptb.frontend import application_builder
from bot.ptb.replies import Sender as PtbSender
from bot.settings import Settings
from handlers.contract import Notifier
from scheduler.reminders import SchedulerLease
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser

ROOT = Path(__file__).resolve().parents[1]
# Sent before the process is killed: the fifth message waits for an answer that never comes.
ANSWERED = 4


# A sweep's delivery: deliver_broadcasts, deliver_reminders (services, notifier, batch, ...).
Deliver = Callable[..., Awaitable[int]]


# How each front end's sender is made in the killed process (`settings` given).
SENDERS = {
    "aiogram": (
        "from bot import aiogram as aiogram_frontend",
        "aiogram_frontend.Sender(aiogram_frontend.build_bot(settings))",
    ),
    "ptb": (
        "from bot.ptb.frontend import application_builder\nfrom bot.ptb.replies import Sender",
        "Sender(application_builder(settings).build().bot)",
    ),
}
FRAMEWORKS = sorted(SENDERS)


@asynccontextmanager
async def aiogram_sender(settings: Settings) -> AsyncIterator[Notifier]:
    bot = aiogram_frontend.build_bot(settings)
    try:
        yield aiogram_frontend.Sender(bot)
    finally:
        await bot.session.close()


@asynccontextmanager
async def ptb_sender(settings: Settings) -> AsyncIterator[Notifier]:
    bot = application_builder(settings).build().bot
    async with bot:
        yield PtbSender(bot)


# Each front end's sender in the process of the test (the next process, after the kill).
SENDERS_HERE: dict[str, Callable[[Settings], AbstractAsyncContextManager[Notifier]]] = {
    "aiogram": aiogram_sender,
    "ptb": ptb_sender,
}


def sends_until_killed(
    deliver: Deliver, framework: str = "aiogram", lease_seconds: float | None = None
) -> str:
    """The program of a process that runs `deliver` in small batches, through the sender of
    `framework`, until killed; holding the scheduler lease for `lease_seconds` when given."""
    module, name = deliver.__module__, deliver.__name__
    imports, sender = SENDERS[framework]
    lease = "None" if lease_seconds is None else f"SchedulerLease(app.services, {lease_seconds})"
    return f"""
import asyncio

{imports}
from bot.assembly import build_app
from bot.settings import Settings
from scheduler.reminders import SchedulerLease
from {module} import {name}

async def main() -> None:
    settings = Settings()
    app = await build_app(settings)
    app.outbound.attach({sender})
    lease = {lease}
    while True:
        await {name}(app.services, app.delivery, lease, batch=3, concurrency=2)
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


@asynccontextmanager
async def limited_api(
    database_url: str, customers: Iterable[int]
) -> AsyncIterator[tuple[FakeBotApi, Settings]]:
    """A fake Bot API server enforcing Telegram's limits, knowing `customers`, and the settings
    of a bot using it (no quiet hours; a claim lapses after half a second)."""
    async with FakeBotApi(enforce_limits=True) as api:
        for telegram_id in customers:
            api.add_user(FakeUser(telegram_id, "客户"))
        settings = make_settings(
            database_url,
            demo_mode=True,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            quiet_hours="off",
            delivery_claim_seconds=0.5,
        )
        yield api, settings


def messages(api: FakeBotApi, customers: Iterable[int]) -> int:
    return sum(len(api.messages_to(n)) for n in customers)


async def kill_while_sending(
    api: FakeBotApi,
    database_url: str,
    customers: Iterable[int],
    deliver: Deliver,
    recorded_sent: Callable[[], Awaitable[int]],
    framework: str = "aiogram",
    lease_seconds: float | None = None,
) -> None:
    """Run `deliver` in a child process (sending through `framework`'s sender) until Telegram
    has answered four messages and the fifth is waiting (and `recorded_sent` says the four are
    recorded); then SIGKILL it."""
    chats = list(customers)
    name, send_message = api._methods["sendmessage"]
    held = asyncio.Event()

    async def hold_the_fifth(params: dict[str, Any]) -> Any:
        if messages(api, chats) >= ANSWERED:
            held.set()
            await asyncio.Event().wait()
        return await send_message(params)

    api._methods["sendmessage"] = (name, hold_the_fifth)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_"))},
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "QUIET_HOURS": "off",
        "DELIVERY_CLAIM_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        sends_until_killed(deliver, framework, lease_seconds),
        env=env,
        cwd=ROOT,
    )
    await asyncio.wait_for(held.wait(), timeout=30)
    for _ in range(100):  # the four answered are recorded; the fifth is on its way
        if await recorded_sent() == ANSWERED:
            break
        await asyncio.sleep(0.01)
    child.kill()  # SIGKILL: no clean-up of any kind
    await child.wait()
    api._methods["sendmessage"] = (name, send_message)


async def next_process_sends(
    app: App,
    settings: Settings,
    deliver: Deliver,
    expected: int,
    lease: SchedulerLease | None = None,
    framework: str = "aiogram",
) -> None:
    """The next process: sends with `deliver` (under `lease` when given), through the sender
    of `framework`, until `expected` more have gone (or 40 rounds)."""
    async with SENDERS_HERE[framework](settings) as sender:
        app.outbound.attach(sender)
        try:
            sent = 0
            for _ in range(40):
                sent += await deliver(app.services, app.delivery, lease)
                if sent >= expected:
                    break
                await asyncio.sleep(0.1)
        finally:
            app.outbound.detach()
