"""Notices and staff alerts survive a database lost right after Telegram answered, on SQLite and
PostgreSQL: one that did not go out is sent once the database is back (its claim, given back
while the database was away, is not lost), and one that went out is not sent again, however
long the outage (its record is kept by the process and written when the database is back).

The database goes away for every use case of the services at the moment the outbound port
answers (`tests.database_away`), as a server restarting or a network cut does."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.assembly import build_app
from domain.customers import TelegramProfile
from domain.services.staff_digest import CLAIM_FOR
from domain.tickets import Category
from scheduler.digest import send_daily_digest
from scheduler.jobs import sweep_points
from scheduler.referrals import sweep_referrals
from scheduler.risk import sweep_risk
from scheduler.support import StaffChat, relay_support
from tests.conftest import make_settings
from tests.dashboard.test_digest import AT_NINE, utc
from tests.dashboard.test_digest import Clock as DigestClock
from tests.dashboard.test_digest import StaffChat as DigestChat
from tests.dashboard.test_digest import _services as digest_services
from tests.database_away import DatabaseAway, LostBeforeTheRecord, LostWithTheAnswer
from tests.fakes.clock import ManualClock
from tests.handlers.chat import Chat
from tests.integration.test_referrals import STAFF_CHAT, Outbox, World
from tests.integration.test_risk import world_of
from tests.support.fakes import RecordingPort

pytestmark = pytest.mark.timeout(60)

WITHIN = timedelta(days=14)
GROUP = -100555


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> DatabaseAway:
    return DatabaseAway().install(monkeypatch)


async def test_a_points_lapse_warning_not_delivered_as_the_database_went_away_is_sent_later(
    database_url: str, database: DatabaseAway
) -> None:
    clock = ManualClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    settings = make_settings(database_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings, clock=clock)
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/recharge")
        await chat.send("18612345678")
        await chat.press("100元")
        await chat.press("模拟支付")  # 100 points, lapsing at the end of November 2027
        clock.now = datetime(2027, 11, 20, 2, 0, tzinfo=UTC)  # the warning is due
        port = Outbox()
        port.failing = True  # Telegram does not take it; the database goes with its answer
        with suppress(OperationalError):
            await sweep_points(app.services, LostWithTheAnswer(port, database), WITHIN)
        database.down = False
        port.failing = False
        assert await sweep_points(app.services, port, WITHIN) == 1
        assert await sweep_points(app.services, port, WITHIN) == 0
        [warning] = port.to(chat.chat_id)
        assert warning.startswith("⏰ 提醒：您有 100 积分将于 2027-11-30 到期")
    finally:
        await app.close()


async def test_a_referral_notice_not_delivered_as_the_database_went_away_is_sent_later(
    engine: AsyncEngine, database: DatabaseAway
) -> None:
    world = World(engine)
    await world.load()
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 50, "13100001111")
    world.outbox.failing = True
    with suppress(OperationalError):
        await sweep_referrals(world.services, LostWithTheAnswer(world.outbox, database), STAFF_CHAT)
    database.down = False
    world.outbox.failing = False
    await world.sweep()
    await world.sweep()
    assert len(world.outbox.to(1)) == 1 and len(world.outbox.to(2)) == 1


async def test_a_referral_alert_not_delivered_as_the_database_went_away_is_sent_later(
    engine: AsyncEngine, database: DatabaseAway
) -> None:
    world = World(engine)
    await world.load()
    anna = await world.customer(1)
    await world.bind(anna, "18612345678")
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 50, "18612345678")  # a self-referral: held
    world.outbox.failing = True
    with suppress(OperationalError):
        await sweep_referrals(world.services, LostWithTheAnswer(world.outbox, database), STAFF_CHAT)
    database.down = False
    world.outbox.failing = False
    await world.sweep()
    await world.sweep()
    [alert] = world.outbox.to(STAFF_CHAT)
    assert "同一号码" in alert


async def test_a_risk_alert_not_delivered_as_the_database_went_away_is_sent_later(
    engine: AsyncEngine, database: DatabaseAway
) -> None:
    world = world_of(engine, orders_per_hour=1)
    customer = await world.customer()
    await world.order(customer, 50)
    assert (await world.order(customer, 50)).held  # an abnormal transaction: staff alerted
    port = Outbox()
    port.failing = True
    with suppress(OperationalError):
        await sweep_risk(world.services, LostWithTheAnswer(port, database), STAFF_CHAT)
    database.down = False
    port.failing = False
    assert (await sweep_risk(world.services, port, STAFF_CHAT)).staff_alerts == 1
    assert (await sweep_risk(world.services, port, STAFF_CHAT)).staff_alerts == 0
    assert len(port.to(STAFF_CHAT)) == 1


async def test_a_ticket_card_sent_as_the_database_went_away_is_not_sent_again(
    database_url: str, database: DatabaseAway
) -> None:
    clock = ManualClock(datetime(2026, 11, 11, 2, 0, tzinfo=UTC))
    app = await build_app(make_settings(database_url, demo_mode=True), clock=clock)
    try:
        turn = await app.services.customers.begin_turn(TelegramProfile(1001, "小明"), 1001)
        await app.services.support.open_ticket(turn.customer.id, 1001, Category.PAYMENT, "扣款两次")
        port = RecordingPort()
        with suppress(OperationalError):
            await relay_support(app.services, LostWithTheAnswer(port, database), StaffChat(GROUP))
        [card] = port.to(GROUP)
        # The outage outlasts the card's claim; then the database is back.
        clock.now += app.services.support.config.stale_claim + timedelta(minutes=1)
        database.down = False
        await relay_support(app.services, port, StaffChat(GROUP))
        await relay_support(app.services, port, StaffChat(GROUP))
        assert port.to(GROUP) == [card]
        assert not app.services.pending_records.count
    finally:
        await app.close()


async def test_a_daily_digest_sent_as_the_database_went_away_is_not_sent_again(
    engine: AsyncEngine, database: DatabaseAway
) -> None:
    clock = DigestClock(utc(6, 1, 0))  # 09:00 in Beijing: yesterday's digest is due
    services = digest_services(engine, clock)
    chat = DigestChat()
    with suppress(OperationalError):
        await send_daily_digest(services, LostBeforeTheRecord(chat, database), -100, AT_NINE)
    assert len(chat.sent) == 1
    clock.now += CLAIM_FOR + timedelta(minutes=1)  # the outage outlasts the claim
    database.down = False
    assert not await send_daily_digest(services, chat, -100, AT_NINE)
    assert not await send_daily_digest(services, chat, -100, AT_NINE)
    assert len(chat.sent) == 1
