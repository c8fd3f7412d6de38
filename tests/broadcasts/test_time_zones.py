"""Each customer's own time zone: chosen with /timezone (a short list, or any zone typed; a bad
name changes nothing), and a push scheduled for a local time reaches each customer at that time
in their zone, never in their quiet hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.assembly import App
from domain.broadcasts import (
    TIME_ZONE_CHOICES,
    earliest_send_time,
    local_send_time,
    parse_time_zone,
)
from domain.persistence.broadcast_tables import BroadcastOutboxRow
from domain.reminders import QuietHours
from scheduler.broadcasts import plan_broadcasts, sweep_broadcasts
from tests.broadcasts.setup import PUSH, STAFF_ID, customers, world_on
from tests.handlers.chat import Chat
from tests.reminder_setup import Clock, RecordingOutbox, beijing

ZONES = [*TIME_ZONE_CHOICES, "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns"]
local_times = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31))
quiet_hours = st.tuples(st.integers(0, 23), st.integers(0, 23)).map(
    lambda hours: QuietHours(time(hours[0]), time(hours[1]))
)


@settings(max_examples=60, deadline=None)
@given(local_times, st.sampled_from(ZONES), quiet_hours)
def test_each_customer_gets_the_local_time_or_the_end_of_their_quiet_hours(
    local: datetime, name: str, quiet: QuietHours
) -> None:
    zone = ZoneInfo(name)
    local = local.replace(second=0, microsecond=0)
    at = local_send_time(local, zone, quiet)
    there = at.astimezone(zone)
    asked = local.replace(tzinfo=zone).astimezone(UTC)
    # Never in their quiet hours, never before the time asked, within two days of it.
    assert not quiet.contains(there.time())
    assert asked <= at < asked + timedelta(hours=48)
    if not quiet.contains(asked.astimezone(zone).time()):
        assert at == asked
    else:
        # The moment their quiet hours end: the minute before is quiet.
        assert quiet.contains((at - timedelta(minutes=1)).astimezone(zone).time())
    # Planning starts no later than the first customer anywhere is due.
    assert earliest_send_time(local) <= asked


def test_a_time_zone_is_a_known_iana_name() -> None:
    assert parse_time_zone(" europe/berlin ") == "Europe/Berlin"
    assert parse_time_zone("Asia/Shanghai") == "Asia/Shanghai"
    for bad in ("", "Mars/Olympus", "北京", "../../etc/passwd", "UTC+8" * 20):
        assert parse_time_zone(bad) is None


@pytest.fixture
async def world(sqlite_url: str, clock: Clock) -> AsyncIterator[App]:
    async with world_on(sqlite_url, clock) as app:
        yield app


async def test_customers_choose_their_time_zone(world: App) -> None:
    [customer_id] = (await customers(world, range(31, 32))).values()
    chat = Chat.of(world.conversation, telegram_id=31)
    await chat.send("/timezone")
    assert "您的时区：上海（当地现在 12:00）" in chat.text
    await chat.press("柏林")
    assert "您的时区已设为 柏林（当地现在 05:00）" in chat.text
    await chat.send("/timezone america/new_york")
    assert "您的时区已设为 纽约" in chat.text
    await chat.send("/timezone Mars/Olympus")
    assert "无法识别时区“Mars/Olympus”，未作任何更改" in chat.text
    assert await world.services.broadcasts.time_zone(customer_id) == "America/New_York"
    await chat.send("/timezone")
    assert "✓ 纽约" in [b.text for b in chat.buttons()]

    english = Chat.of(world.conversation, telegram_id=32, language="en")
    await english.send("/timezone nowhere")
    assert '"nowhere" is not a time zone I know; nothing was changed' in english.text
    await english.press("Tokyo")
    assert "Your time zone is now Tokyo (now 13:00 there)" in english.text


async def test_a_push_at_a_local_time_reaches_each_customer_at_their_own(
    world: App, clock: Clock
) -> None:
    ids = await customers(world, range(41, 45))
    broadcasts = world.services.broadcasts
    for telegram_id, zone in ((42, "Europe/Berlin"), (43, "America/New_York"), (44, "Asia/Tokyo")):
        assert await broadcasts.set_time_zone(ids[telegram_id], zone) == zone
    # 07:30 local: within quiet hours (22:00-08:00) everywhere, so at 08:00 in each zone.
    await broadcasts.create(PUSH, STAFF_ID, local_time=datetime(2026, 11, 11, 7, 30))
    assert await plan_broadcasts(world.services) == 0  # not yet anywhere
    clock.now = beijing(2026, 11, 11, 2, 0)
    assert await plan_broadcasts(world.services) == 4
    async with world.engine.connect() as connection:
        rows = await connection.execute(
            select(BroadcastOutboxRow.chat_id, BroadcastOutboxRow.send_at)
        )
        send_at = {chat: at for chat, at in rows}
    eight = datetime(2026, 11, 11, 8, 0)
    assert send_at[41] == beijing(2026, 11, 11, 8, 0)
    assert send_at[42] == eight.replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert send_at[43] == eight.replace(tzinfo=ZoneInfo("America/New_York"))
    assert send_at[44] == eight.replace(tzinfo=ZoneInfo("Asia/Tokyo"))

    outbox = RecordingOutbox()
    clock.now = beijing(2026, 11, 11, 7, 0)  # 08:00 in Tokyo
    assert await sweep_broadcasts(world.services, outbox) == 1
    clock.now = beijing(2026, 11, 11, 8, 0)
    assert await sweep_broadcasts(world.services, outbox) == 1
    clock.now = beijing(2026, 11, 11, 15, 0)  # 08:00 in Berlin
    assert await sweep_broadcasts(world.services, outbox) == 1
    clock.now = beijing(2026, 11, 11, 20, 59)  # 07:59 in New York
    assert await sweep_broadcasts(world.services, outbox) == 0
    clock.now = beijing(2026, 11, 11, 21, 0)
    assert await sweep_broadcasts(world.services, outbox) == 1
    assert [chat for chat, _ in outbox.sent] == [44, 41, 42, 43]


async def test_a_push_sent_now_waits_out_each_customers_own_quiet_hours(
    world: App, clock: Clock
) -> None:
    ids = await customers(world, range(51, 53))
    broadcasts = world.services.broadcasts
    await broadcasts.set_time_zone(ids[52], "America/Los_Angeles")  # 20:00 the day before
    clock.now = beijing(2026, 11, 10, 14, 0)  # 22:00 in Los Angeles: quiet there
    await broadcasts.create(PUSH, STAFF_ID)
    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 1
    assert [chat for chat, _ in outbox.sent] == [51]
    clock.now = beijing(2026, 11, 11, 0, 0)  # 08:00 in Los Angeles
    assert await sweep_broadcasts(world.services, outbox) == 1
    assert [chat for chat, _ in outbox.sent] == [51, 52]
