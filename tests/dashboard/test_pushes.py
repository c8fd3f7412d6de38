"""The reminders and pushes page: per campaign (reminders) and per broadcast, how many were
sent, opened (a button on them pressed) and followed by the customer's recharge within 24 hours,
on hand-made rows; and a reminder's button pressed in the chat counting as opened."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.assembly import App, build_app
from domain.figures import Period
from domain.persistence.broadcast_tables import BroadcastOutboxRow, BroadcastRow
from domain.persistence.reminder_tables import ReminderOutboxRow
from scheduler.reminders import sweep_reminders
from tests.conftest import make_settings
from tests.dashboard.conftest import Site
from tests.dashboard.data import add_campaign, add_customer, add_order, put
from tests.handlers.chat import Chat
from tests.reminder_setup import RecordingOutbox, countdown_due_now

WEEK = {"period": "custom", "from": "2026-12-01", "to": "2026-12-07"}


def day(d: int, hour: int = 0, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, d, hour, minute, tzinfo=UTC)


async def _reminder(
    engine: AsyncEngine,
    campaign: int,
    customer: int,
    sent_at: datetime,
    status: str = "sent",
    pressed_at: datetime | None = None,
) -> None:
    await put(
        engine,
        ReminderOutboxRow,
        campaign_id=campaign,
        customer_id=customer,
        reminder_key=f"k{sent_at:%d%H}",
        chat_id=customer,
        due_at=sent_at,
        stale_at=sent_at + timedelta(hours=1),
        status=status,
        attempts=1,
        planned_at=sent_at - timedelta(hours=1),
        settled_at=sent_at,
        pressed_at=pressed_at,
    )


async def _broadcast(engine: AsyncEngine, campaign: int | None, text: str) -> int:
    return await put(
        engine,
        BroadcastRow,
        status="done",
        text_zh=text,
        text_en=f"en {text}",
        targets=["recharge"],
        audience={},
        campaign_id=campaign,
        send_at=day(2, 9),
        created_by=1,
        created_at=day(2, 8),
        planned_through=0,
        planned=True,
    )


async def _push(
    engine: AsyncEngine,
    broadcast: int,
    customer: int,
    status: str,
    pressed_at: datetime | None = None,
) -> None:
    await put(
        engine,
        BroadcastOutboxRow,
        broadcast_id=broadcast,
        customer_id=customer,
        chat_id=customer,
        variant=0,
        status=status,
        attempts=1,
        planned_at=day(2, 8),
        settled_at=day(2, 9),
        pressed_at=pressed_at,
    )


async def fill_pushes(engine: AsyncEngine) -> dict[str, int]:
    """Campaigns X and Y, customers P, Q, R, S; reminders and one broadcast of X on 2 Dec."""
    x = await add_campaign(engine, "rx", day(1), day(8))
    y = await add_campaign(engine, "ry", day(1), day(8))
    p, q, r, s = [await add_customer(engine, 7000 + n, day(1)) for n in range(4)]
    # Reminders of X: P's (10:00, pressed, recharged at 20:00: within 24 h), Q's (10:00, not
    # pressed; Q recharged on the 4th: too late), R's failed one (never sent), and P's reminder
    # of 25 November (another period).
    await _reminder(engine, x, p, day(2, 10), pressed_at=day(2, 10, 5))
    await _reminder(engine, x, q, day(2, 10))
    await _reminder(engine, x, r, day(2, 10), status="failed")
    await _reminder(engine, x, p, day(25, 10, month=11))
    # Y: S's reminder at 11:00, pressed, no recharge.
    await _reminder(engine, y, s, day(2, 11), pressed_at=day(2, 12))
    await add_order(engine, p, 3000, day(2, 20))  # completes a minute later
    await add_order(engine, q, 2000, day(4, 12))
    # The broadcast of X at 09:00: P pressed (and recharged at 20:01), Q did not; R's push was
    # delivered and later taken back (still delivered); S's was skipped (never sent).
    b = await _broadcast(engine, x, "双12 充值加赠 20% 流量，今晚截止，快来看看吧！")
    await _push(engine, b, p, "sent", pressed_at=day(2, 9, 30))
    await _push(engine, b, q, "sent")
    await _push(engine, b, r, "unsent")
    await _push(engine, b, s, "skipped")
    return {"x": x, "y": y, "broadcast": b}


@pytest.fixture
async def pushed(site: Site) -> dict[str, int]:
    return await fill_pushes(site.app.engine)


async def test_reminders_and_pushes_sent_opened_and_recharged(
    site: Site, pushed: dict[str, int]
) -> None:
    figures = site.app.services.figures
    found = await figures.pushes(Period(day(1), day(8)))
    reminders = {r.key: (r.sent, r.opened, r.recharged) for r in found.reminders}
    assert reminders == {pushed["x"]: (2, 1, 1), pushed["y"]: (1, 1, 0)}
    x = next(r for r in found.reminders if r.key == pushed["x"])
    assert x.open_rate == 0.5 and x.recharge_rate == 0.5
    [broadcast] = found.broadcasts
    assert (broadcast.key, broadcast.campaign_id) == (pushed["broadcast"], pushed["x"])
    # P, Q and R were delivered it; P pressed; P recharged 11 hours after.
    assert (broadcast.sent, broadcast.opened, broadcast.recharged) == (3, 1, 1)
    only_y = await figures.pushes(Period(day(1), day(8)), pushed["y"])
    assert [r.key for r in only_y.reminders] == [pushed["y"]] and only_y.broadcasts == []
    november = await figures.pushes(Period(day(20, month=11), day(1)))
    assert [(r.sent, r.opened, r.recharged) for r in november.reminders] == [(1, 0, 0)]
    assert november.broadcasts == []


@pytest.mark.parametrize("language", ["zh-hans", "en"])
async def test_the_page_shows_both_tables_in_the_staff_language(
    site: Site, pushed: dict[str, int], language: str
) -> None:
    await Chat.of(site.app.conversation, 4242, language).send("/start")
    await site.sign_in()
    html = await (await site.client.get("/p/pushes", params=WEEK)).text()
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]
    cells = [row for row in rows if row]
    if language == "zh-hans":
        assert "<h2>提醒与推送</h2>" in html
        assert ["活动rx", "2", "1", "50.0%", "1", "50.0%"] in cells
        text = "#1 双12 充值加赠 20% 流量，今晚截止，快来看看吧！"
        assert [text, "活动rx", "3", "1", "33.3%", "1", "33.3%"] in cells
    else:
        assert "<h2>Reminders and pushes</h2>" in html
        assert ["Campaign ry", "1", "1", "100.0%", "0", "0.0%"] in cells
        assert any(row[0].startswith("#1 en 双12") for row in cells)
    csv = await (await site.client.get("/export/pushes/reminders.csv", params=WEEK)).read()
    assert b"50.0%" in csv


async def test_a_reminders_button_pressed_counts_it_opened(sqlite_url: str) -> None:
    # No quiet hours: the reminder is due whatever the time of day the test runs at.
    app = await build_app(make_settings(sqlite_url, demo_mode=True, quiet_hours="off"))
    try:
        await _pressed_once_counts_opened(app)
    finally:
        await app.close()


async def _pressed_once_counts_opened(app: App) -> None:
    await countdown_due_now(app, range(8001, 8003))
    outbox = RecordingOutbox()
    assert await sweep_reminders(app.services, outbox) == 2
    (chat_id, reminder), _ = outbox.sent
    chat = Chat.of(app.conversation, chat_id)
    recharge_now = next(b for row in reminder.buttons for b in row if "立即充值" in b.text)
    await chat.press_data(recharge_now.data or "")
    assert "充值" in chat.text  # the recharge screen, as from any "recharge now"
    await chat.press_data(recharge_now.data or "")  # a second press counts once
    now = datetime.now(UTC)
    found = await app.services.figures.pushes(Period(now - timedelta(hours=1), now))
    [outcome] = found.reminders
    assert (outcome.sent, outcome.opened, outcome.recharged) == (2, 1, 0)
