"""A broadcast paused, resumed or cancelled by staff with its buttons under `/broadcasts`, end to
end over real HTTP with each front end against the fake Bot API server, while its pushes are
going out: the push already at Telegram arrives, nothing more is sent while it is paused or once
it is cancelled (now or by a later sweep), a resumed broadcast sends the rest once each, and each
action is recorded with who and when, in the broadcast's actions and in the audit trail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.assembly import App
from domain.audit import AuditAction
from domain.broadcasts import BroadcastStatus, PushSkip
from scheduler.broadcasts import deliver_broadcasts, plan_broadcasts, sweep_broadcasts
from tests.broadcasts.setup import PUSH
from tests.e2e.conftest import Runner
from tests.e2e.test_referrals_e2e import press_to_edit, say
from tests.fakes.bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(60)

STAFF = FakeUser(id=1401, first_name="小王", language_code="zh-hans")
CUSTOMERS = [
    FakeUser(id=1411 + n, first_name=f"客户{n}", language_code="zh-hans") for n in range(5)
]
# Telegram is slow to take the push to this customer: the broadcast is under way meanwhile.
SLOW = CUSTOMERS[2]
SETTINGS: dict[str, Any] = {"admin_ids": str(STAFF.id), "quiet_hours": "off"}


async def going_out(api: FakeBotApi, app: App) -> tuple[int, asyncio.Event, asyncio.Task[int]]:
    """A broadcast to every customer going out one push at a time, the slow customer's push
    held at Telegram: its id, the hold to release, and the sending."""
    for user in CUSTOMERS:
        await say(api, user, "/start", count=2)
    broadcast_id = await app.services.broadcasts.create(PUSH, STAFF.id)
    assert await plan_broadcasts(app.services) == len(CUSTOMERS)
    held = api.hold(SLOW.id)
    sending = asyncio.create_task(
        deliver_broadcasts(app.services, app.delivery, batch=1, concurrency=1)
    )
    await api.wait_for(
        lambda: any(
            c["chat_id"] == SLOW.id and c.get("text") == PUSH.text_zh
            for c in api.calls_to("sendMessage")
        ),
        what="the slow customer's push on its way",
    )
    return broadcast_id, held, sending


def pushed(api: FakeBotApi) -> list[int]:
    """The customers who got the push, once per push they got, in the customers' order."""
    return [
        user.id
        for user in CUSTOMERS
        for message in api.messages_to(user.id)
        if message.get("text") == PUSH.text_zh
    ]


async def test_staff_cancel_a_broadcast_going_out_with_its_button(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    async with runner(api, sqlite_url, **SETTINGS) as app:
        broadcasts = app.services.broadcasts
        broadcast_id, held, sending = await going_out(api, app)

        # Staff list the broadcasts and press ✖️ on this one, in the bot.
        [listing] = await say(api, STAFF, "/broadcasts")
        assert f"#{broadcast_id} · 发送中" in listing["text"]
        assert "已发 2" in listing["text"]
        pressed_at = datetime.now(UTC)
        shown = await press_to_edit(api, STAFF, listing, "取消推送")
        assert "已取消" in shown["text"]
        assert "取消推送" not in str(shown.get("reply_markup", {}))  # nothing left to cancel

        held.set()
        await sending
        assert await sweep_broadcasts(app.services, app.delivery) == 0
        got = pushed(api)
        # Those before the slow one and the slow one itself (already at Telegram), each once;
        # nobody after it.
        assert got == [user.id for user in CUSTOMERS[:3]]
        progress = await broadcasts.progress(broadcast_id)
        assert progress.status is BroadcastStatus.CANCELLED
        assert (progress.sent, progress.queued) == (3, 0)
        assert progress.skipped == {PushSkip.CANCELLED: 2}

        who, what, when = (await broadcasts.actions(broadcast_id))[-1]
        assert (who, what) == (STAFF.id, "cancel")
        assert pressed_at <= when <= datetime.now(UTC)
        [audited] = [
            record
            for record in await app.services.audit.recent()
            if record.entry.subject == f"broadcast:{broadcast_id}"
            and record.entry.action is AuditAction.BROADCAST_CANCELLED
        ]
        assert audited.entry.actor_id == STAFF.id
        assert audited.at == when


async def test_staff_pause_a_broadcast_going_out_and_resume_it_with_its_buttons(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    async with runner(api, sqlite_url, **SETTINGS) as app:
        broadcasts = app.services.broadcasts
        broadcast_id, held, sending = await going_out(api, app)

        [listing] = await say(api, STAFF, "/broadcasts")
        shown = await press_to_edit(api, STAFF, listing, "⏸ 暂停")
        assert f"#{broadcast_id} · 已暂停" in shown["text"]
        held.set()
        await sending
        assert await sweep_broadcasts(app.services, app.delivery) == 0
        assert pushed(api) == [user.id for user in CUSTOMERS[:3]]  # nobody after the slow one
        paused = await broadcasts.progress(broadcast_id)
        assert paused.status is BroadcastStatus.PAUSED
        assert (paused.sent, paused.queued) == (3, 2)

        resumed = await press_to_edit(api, STAFF, shown, "▶️ 继续")
        assert f"#{broadcast_id} · 发送中" in resumed["text"]
        assert await sweep_broadcasts(app.services, app.delivery) == 2
        assert await sweep_broadcasts(app.services, app.delivery) == 0
        assert sorted(pushed(api)) == sorted(user.id for user in CUSTOMERS)  # each once
        done = await broadcasts.progress(broadcast_id)
        assert (done.status, done.sent, done.queued) == (BroadcastStatus.DONE, 5, 0)

        actions = [(who, what) for who, what, _ in await broadcasts.actions(broadcast_id)]
        assert actions[-2:] == [(STAFF.id, "pause"), (STAFF.id, "resume")]
        audited = [
            record.entry.action
            for record in await app.services.audit.recent()
            if record.entry.subject == f"broadcast:{broadcast_id}"
            and record.entry.actor_id == STAFF.id
        ]
        assert AuditAction.BROADCAST_PAUSED in audited
        assert AuditAction.BROADCAST_RESUMED in audited
