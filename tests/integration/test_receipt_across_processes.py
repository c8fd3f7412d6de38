"""A receipt, or a ticket message, goes out once across two bot processes when the database is
lost, for longer than its claim, between a process sending it and recording it: the lease
holder's sweep does not take over a lapsed claim until it has held the lease, without a break,
for longer than a living process takes to write what it kept; and a receipt whose sender died
before sending it is still sent then (nothing lost). Two processes on one database (SQLite and
PostgreSQL), the database away for both (`tests.database_away`), time on the test's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from bot.aiogram import Sender, build_bot
from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.services.pending_records import PendingRecords
from domain.services.recharge import OUTCOME_CLAIM
from domain.tickets import Category
from scheduler.jobs import sweep_orders, under_lease
from scheduler.reminders import TAKE_OVER_AFTER, SchedulerLease
from scheduler.support import StaffChat, relay_support
from tests.database_away import DatabaseAway, LostWithTheAnswer
from tests.fakes.bot_api import FakeBotApi
from tests.integration.test_receipt_once import (
    Clock,
    receipt_shown_as_the_database_goes,
    receipts,
    recharging,
    shop_settings,
    told,
)
from tests.support.fakes import RecordingPort

pytestmark = pytest.mark.timeout(60)

LEASE_SECONDS = 60
OUTAGE = OUTCOME_CLAIM + timedelta(minutes=1)
GROUP = -100555


class Worker:
    """One bot process: its services, its outbound port, its scheduler lease."""

    def __init__(self, app: App, name: str, clock: Clock) -> None:
        self.app = app
        self.lease = SchedulerLease(app.services, LEASE_SECONDS, holder=name, clock=clock)
        # Its kept records are written when the test says (a living process does so within a
        # second of the database answering again): the race is the test's to set.
        app.services.outcomes.records = PendingRecords(first_delay=3600)

    async def sweep_orders(self) -> object:
        """The order sweep as the scheduler runs it: only while holding the lease."""
        leased = under_lease(self.lease, sweep_orders)
        return await leased(self.app.services, self.app.delivery, self.lease)


@pytest.fixture
async def workers(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Worker, Worker, FakeBotApi, Clock, DatabaseAway]]:
    clock = Clock(datetime.now(UTC))
    database = DatabaseAway().install(monkeypatch)
    async with FakeBotApi() as api:
        settings = shop_settings(database_url, api)
        apps = [await build_app(settings, clock=clock) for _ in range(2)]
        bots = [build_bot(settings) for _ in apps]
        for app, bot in zip(apps, bots, strict=True):
            app.outbound.attach(Sender(bot))
        try:
            yield (
                Worker(apps[0], "worker-1", clock),
                Worker(apps[1], "worker-2", clock),
                api,
                clock,
                database,
            )
        finally:
            database.down = False
            for app, bot in zip(apps, bots, strict=True):
                await app.close()
                await bot.session.close()


async def test_a_receipt_sent_before_an_outage_is_not_sent_again_by_the_next_lease_holder(
    workers: tuple[Worker, Worker, FakeBotApi, Clock, DatabaseAway],
) -> None:
    first, second, api, clock, database = workers
    await recharging(first.app, api, clock)
    assert await first.lease.held()
    # The lease holder's sweep sends the receipt; the database goes with Telegram's answer.
    lost = LostWithTheAnswer(first.app.delivery, database)
    with suppress(OperationalError):
        await sweep_orders(first.app.services, lost, first.lease)
    assert receipts(api) == 1
    assert first.app.services.pending_records.count == 1
    # The outage outlasts the receipt's claim and the lease; both processes' sweeps fail.
    clock.now += OUTAGE
    assert await second.sweep_orders() is None
    database.down = False

    # The other process gets the lease first, and sweeps at once: the lapsed claim is not its.
    assert await second.sweep_orders() == 0
    await first.app.services.pending_records.flush()  # the sender writes what it kept
    clock.now += TAKE_OVER_AFTER
    assert await second.sweep_orders() == 0
    assert receipts(api) == 1
    assert await told(first.app)


async def test_a_receipt_shown_in_a_chat_before_an_outage_is_not_sent_by_the_lease_holder(
    workers: tuple[Worker, Worker, FakeBotApi, Clock, DatabaseAway],
) -> None:
    """One process answers the customer with the receipt; the other holds the lease."""
    first, second, api, clock, database = workers
    assert await second.sweep_orders() == 0  # the lease holder, sweeping
    clock.now += TAKE_OVER_AFTER
    await receipt_shown_as_the_database_goes(first.app, api, clock, database)
    assert await second.sweep_orders() is None  # the lease holder sees the outage
    clock.now += OUTAGE
    database.down = False

    assert await second.sweep_orders() == 0  # (its lease lapsed: taken again, anew)
    await first.app.services.pending_records.flush()
    clock.now += TAKE_OVER_AFTER
    assert await second.sweep_orders() == 0
    assert receipts(api) == 0  # shown once, in the chat; never sent on top
    assert await told(first.app)


async def test_a_receipt_whose_sender_died_before_sending_is_sent_by_the_next_lease_holder(
    workers: tuple[Worker, Worker, FakeBotApi, Clock, DatabaseAway],
) -> None:
    first, second, api, clock, database = workers
    await recharging(first.app, api, clock)
    await first.app.services.fulfilment.expire_due()
    await first.app.services.paying.recover()  # completed
    [order] = await first.app.services.outcomes.unnotified_outcomes()
    assert await first.app.services.outcomes.claim_outcome(order.id)  # then it was killed
    database.down = True
    clock.now += OUTAGE
    assert await second.sweep_orders() is None
    database.down = False

    assert await second.sweep_orders() == 0
    clock.now += TAKE_OVER_AFTER
    assert await second.sweep_orders() == 1
    assert await second.sweep_orders() == 0
    assert receipts(api) == 1


async def test_a_ticket_card_sent_before_an_outage_is_not_sent_again_by_the_next_lease_holder(
    workers: tuple[Worker, Worker, FakeBotApi, Clock, DatabaseAway],
) -> None:
    first, second, _api, clock, database = workers
    turn = await first.app.services.customers.begin_turn(TelegramProfile(1001, "小明"), 1001)
    await first.app.services.support.open_ticket(turn.customer.id, 1001, Category.PAYMENT, "扣款")
    port = RecordingPort()
    staff = StaffChat(GROUP)
    with suppress(OperationalError):
        await relay_support(first.app.services, LostWithTheAnswer(port, database), staff)
    [card] = port.to(GROUP)
    clock.now += OUTAGE  # longer than the card's claim
    database.down = False

    relay = under_lease(second.lease, relay_support)
    await relay(second.app.services, port, staff, second.lease)  # the lease, taken first
    await first.app.services.pending_records.flush()
    clock.now += TAKE_OVER_AFTER
    await relay(second.app.services, port, staff, second.lease)
    assert port.to(GROUP) == [card]
