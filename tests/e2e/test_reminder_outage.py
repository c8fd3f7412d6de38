"""A countdown reminder goes out once when the database is lost between sending it and recording
it sent, for longer than the sender's claim on it: the process keeps the record and writes it
when the database is back, and does not send the reminder again; nor does another process that
takes the scheduler lease first when the database is back. Over real HTTP to the fake Bot API
server (which counts what the customer got), on SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.assembly import build_app
from domain.persistence.reminder_repositories import ReminderRepository
from domain.services.pending_records import PendingRecords
from handlers.contract import Delivery, Reply
from handlers.outbound import Settle
from scheduler.reminders import (
    TAKE_OVER_AFTER,
    SchedulerLease,
    deliver_reminders,
    plan_reminders,
)
from tests.conftest import make_settings
from tests.database_away import DatabaseAway, LostBeforeTheRecord
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.killed_sender import aiogram_sender
from tests.reminder_setup import (
    Clock,
    beijing,
    campaign_file,
    load_campaign,
    subscribed_customers,
)

pytestmark = pytest.mark.timeout(30)

CUSTOMER = 5101
ENDS = beijing(2026, 11, 11, 20, 0)


@dataclass
class Database:
    """Whether the database is reachable, as the reminder outbox's calls see it."""

    down: bool = False


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Database:
    state = Database()
    for name in ("claim_due", "settle", "release"):
        original = getattr(ReminderRepository, name)

        async def failing(
            self: ReminderRepository, *args: Any, _original: Any = original, **kwargs: Any
        ) -> Any:
            if state.down:
                raise OperationalError("UPDATE", {}, ConnectionRefusedError(111, "refused"))
            return await _original(self, *args, **kwargs)

        monkeypatch.setattr(ReminderRepository, name, failing)
    return state


@dataclass
class LostAfterSending:
    """The delivery port, with the database lost the moment Telegram took the message."""

    port: Any
    database: Database

    async def send(self, chat_id: int, reply: Reply, *, settle: Settle | None = None) -> Delivery:
        async def lost_then_settle(delivery: Delivery) -> None:
            self.database.down = True
            if settle is not None:
                await settle(delivery)

        delivery: Delivery = await self.port.send(chat_id, reply, settle=lost_then_settle)
        return delivery


async def test_a_reminder_sent_as_the_database_went_away_is_not_sent_again(
    database_url: str, database: Database
) -> None:
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    async with FakeBotApi() as api:
        api.add_user(FakeUser(CUSTOMER, "客户", language_code="zh-hans"))
        settings = make_settings(
            database_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url
        )
        app = await build_app(settings, clock=clock)
        try:
            async with aiogram_sender(settings) as notifier:
                app.outbound.attach(notifier)
                campaign_id = await load_campaign(app, campaign_file(clock.now, ENDS))
                await subscribed_customers(app, campaign_id, range(CUSTOMER, CUSTOMER + 1))
                await plan_reminders(app.services)
                clock.now = beijing(2026, 11, 10, 20, 0)  # the first countdown is due

                with suppress(OperationalError):  # how the sweep ends is not what is seen
                    await deliver_reminders(app.services, LostAfterSending(app.delivery, database))
                assert len(api.messages_to(CUSTOMER)) == 1
                # The outage outlasts the claim on the reminder; then the database is back.
                clock.advance(seconds=app.services.reminders.config.claim_seconds + 60)
                database.down = False
                await deliver_reminders(app.services, app.delivery)
                await deliver_reminders(app.services, app.delivery)
                assert len(api.messages_to(CUSTOMER)) == 1
                assert not app.services.pending_records.count
        finally:
            await app.close()


async def test_a_reminder_sent_before_an_outage_is_not_sent_again_by_the_next_lease_holder(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = DatabaseAway().install(monkeypatch)
    clock = Clock(beijing(2026, 11, 10, 12, 0))
    async with FakeBotApi() as api:
        api.add_user(FakeUser(CUSTOMER, "客户", language_code="zh-hans"))
        settings = make_settings(
            database_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url
        )
        first, second = [await build_app(settings, clock=clock) for _ in range(2)]
        leases = [
            SchedulerLease(app.services, 60, holder=f"worker-{n}", clock=clock)
            for n, app in enumerate((first, second), 1)
        ]
        # The sender's kept record is written when the test says (a living process does so
        # within a second of the database answering again): the race is the test's to set.
        first.services.outcomes.records = PendingRecords(first_delay=3600)
        try:
            async with aiogram_sender(settings) as one, aiogram_sender(settings) as other:
                first.outbound.attach(one)
                second.outbound.attach(other)
                campaign_id = await load_campaign(first, campaign_file(clock.now, ENDS))
                await subscribed_customers(first, campaign_id, range(CUSTOMER, CUSTOMER + 1))
                await plan_reminders(first.services)
                clock.now = beijing(2026, 11, 10, 20, 0)  # the first countdown is due

                lost = LostBeforeTheRecord(first.delivery, away)
                with suppress(OperationalError):
                    await deliver_reminders(first.services, lost, leases[0])
                assert len(api.messages_to(CUSTOMER)) == 1
                # The outage outlasts the claim and the lease; the other process's sweep fails.
                clock.advance(seconds=first.services.reminders.config.claim_seconds + 60)
                assert await deliver_reminders(second.services, second.delivery, leases[1]) == 0
                away.down = False

                # The other process takes the lease first and sweeps at once.
                assert await deliver_reminders(second.services, second.delivery, leases[1]) == 0
                await first.services.pending_records.flush()  # the sender writes what it kept
                clock.advance(seconds=TAKE_OVER_AFTER.total_seconds())
                assert await deliver_reminders(second.services, second.delivery, leases[1]) == 0
                assert len(api.messages_to(CUSTOMER)) == 1
        finally:
            away.down = False
            await first.close()
            await second.close()
