"""Reminders through each front end's sender and the rate-limited port, over real HTTP against
the fake Bot API server enforcing Telegram's flood limits: no 429 provoked, a 429 waited out for
its chat only, failures retried and then dead-lettered, a blocked customer marked unreachable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

import pytest

from bot.assembly import App, build_app
from bot.settings import Settings
from handlers.contract import DeliveryStatus, Notifier, Reply
from scheduler.reminders import deliver_reminders, plan_reminders
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.killed_sender import aiogram_sender, ptb_sender
from tests.reminder_setup import (
    Clock,
    beijing,
    campaign_file,
    load_campaign,
    subscribed_customers,
)

pytestmark = pytest.mark.timeout(30)

ENDS = beijing(2026, 11, 11, 20, 0)


FRONT_ENDS = [pytest.param(ptb_sender, id="ptb"), pytest.param(aiogram_sender, id="aiogram")]
SenderFactory = Callable[[Settings], AbstractAsyncContextManager[Notifier]]


@asynccontextmanager
async def running(
    api: FakeBotApi, sqlite_url: str, sender: SenderFactory, clock: Clock, **limits: object
) -> AsyncIterator[App]:
    settings = make_settings(
        sqlite_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url, **limits
    )
    app = await build_app(settings, clock=clock)
    try:
        async with sender(settings) as notifier:
            app.outbound.attach(notifier)
            yield app
    finally:
        await app.close()


@pytest.mark.parametrize("sender", FRONT_ENDS)
async def test_reminders_to_many_chats_keep_telegrams_limits(
    sqlite_url: str, sender: SenderFactory
) -> None:
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    async with FakeBotApi(enforce_limits=True, global_per_second=20) as api:
        for telegram_id in range(5001, 5031):
            api.add_user(FakeUser(telegram_id, "客户", language_code="zh-hans"))
        async with running(api, sqlite_url, sender, clock, delivery_global_per_second=20) as app:
            campaign_id = await load_campaign(app, campaign_file(beijing(2026, 11, 1, 0, 0), ENDS))
            await subscribed_customers(app, campaign_id, range(5001, 5031))
            await plan_reminders(app.services)
            clock.now = beijing(2026, 11, 10, 20, 0)
            started = time.monotonic()
            assert await deliver_reminders(app.services, app.delivery) == 30
            elapsed = time.monotonic() - started
    assert api.too_many_requests == 0
    assert all(len(api.messages_to(n)) == 1 for n in range(5001, 5031))
    assert elapsed >= 0.45  # 30 messages at 20 a second: the limit was what held them


@pytest.mark.parametrize("sender", FRONT_ENDS)
async def test_a_429_holds_back_only_its_own_chat(sqlite_url: str, sender: SenderFactory) -> None:
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    async with FakeBotApi(enforce_limits=True) as api:
        for telegram_id in (1, 2):
            api.add_user(FakeUser(telegram_id, "客户"))
        async with running(api, sqlite_url, sender, clock) as app:
            api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
            arrived: dict[int, float] = {}
            started = time.monotonic()

            async def send(chat_id: int) -> None:
                assert await app.delivery.send(chat_id, Reply(f"to {chat_id}"))
                arrived[chat_id] = time.monotonic() - started

            first = asyncio.create_task(send(1))
            await asyncio.sleep(0.05)
            await asyncio.gather(first, send(2))
    assert arrived[2] < 0.5 <= 1.0 <= arrived[1]
    assert [m["text"] for m in api.messages_to(1)] == ["to 1"]
    assert api.too_many_requests == 0  # the injected 429 is not counted as provoked


@pytest.mark.parametrize("sender", FRONT_ENDS)
async def test_server_errors_are_retried_then_dead_lettered_with_the_reason(
    sqlite_url: str, sender: SenderFactory
) -> None:
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    async with FakeBotApi() as api:
        api.add_user(FakeUser(7, "客户"))
        async with running(
            api,
            sqlite_url,
            sender,
            clock,
            delivery_retry_seconds=0.01,
            delivery_max_attempts=3,
            delivery_chat_per_second=20,  # the fake server does not enforce limits here
        ) as app:
            api.fail_next("sendMessage", 502, "Bad Gateway", times=2)
            assert await app.delivery.send(7, Reply("third time lucky"))
            api.fail_next("sendMessage", 502, "Bad Gateway", times=3)
            lost = await app.delivery.send(7, Reply("never"))
            assert lost.status is DeliveryStatus.RETRY
            assert lost.reason.startswith("dead-lettered after 3 attempts")
            [dead] = app.delivery.dead_letters
            assert dead.chat_id == 7 and dead.text == "never" and dead.attempts == 3
    assert [m["text"] for m in api.messages_to(7)] == ["third time lucky"]


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable(sqlite_url: str) -> None:
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    async with FakeBotApi() as api:
        api.add_user(FakeUser(8, "客户"))
        api.block_user(8)
        async with running(api, sqlite_url, aiogram_sender, clock) as app:
            campaign_id = await load_campaign(app, campaign_file(beijing(2026, 11, 1, 0, 0), ENDS))
            await subscribed_customers(app, campaign_id, range(8, 9))
            await plan_reminders(app.services)
            clock.now = beijing(2026, 11, 10, 20, 0)
            assert await deliver_reminders(app.services, app.delivery) == 0
            clock.now += timedelta(hours=22)
            assert await deliver_reminders(app.services, app.delivery) == 0
            [progress] = await app.services.reminders.progress()
            assert (progress.failed, progress.skipped, progress.pending) == (1, 1, 1)
    sends = [call for call in api.calls if call.method == "sendMessage"]
    assert len(sends) == 1  # tried once, never again
