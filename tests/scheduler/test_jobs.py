"""The scheduler's sweeps run on time and are safe to run twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.assembly import App, build_app
from handlers.contract import ContactKeyboard, Delivery, DeliveryStatus, Reply
from scheduler.jobs import (
    Schedule,
    build_scheduler,
    reset_abandoned_conversations,
    sweep_points,
    under_lease,
)
from scheduler.reminders import SchedulerLease
from tests.conftest import make_settings
from tests.handlers.chat import Chat


async def test_a_running_scheduler_resets_abandoned_conversations(app: App) -> None:
    chat = Chat.of(app.conversation)
    await chat.send("/bind")
    assert isinstance(chat.replies[0].keyboard, ContactKeyboard)

    scheduler = build_scheduler(app.services, Schedule(0, 0.05), app.outbound)
    scheduler.start()
    try:
        for _ in range(100):
            turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
            if turn.state.idle:
                break
            await asyncio.sleep(0.02)
    finally:
        scheduler.shutdown(wait=False)
    # The customer is back at the menu: a typed 5-digit text is no longer read as a number.
    await chat.send("12345")
    assert chat.texts[0].startswith("抱歉，我没有理解")


async def test_the_sweep_run_twice_changes_nothing_more(app: App) -> None:
    chat = Chat.of(app.conversation)
    await chat.send("/bind")
    assert await reset_abandoned_conversations(app.services, idle_seconds=0) == 1
    assert await reset_abandoned_conversations(app.services, idle_seconds=0) == 0


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class _Collecting:
    def __init__(self, deliver: bool = True) -> None:
        self.sent: list[tuple[int, Reply]] = []
        self.deliver = deliver

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        if not self.deliver:
            return Delivery(DeliveryStatus.RETRY, reason="offline")
        self.sent.append((chat_id, reply))
        return Delivery.sent()


async def test_points_lapse_warning_is_sent_once_then_points_lapse(sqlite_url: str) -> None:
    clock = _Clock()
    app = await build_app(
        make_settings(sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0), clock=clock
    )
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/recharge")
        await chat.send("18612345678")
        await chat.press("100元")
        await chat.press("模拟支付")  # 100 points, lapsing at the end of November 2027
        notifier = _Collecting()
        assert await sweep_points(app.services, notifier, timedelta(days=14)) == 0
        clock.now = datetime(2027, 11, 20, 2, 0, tzinfo=UTC)
        offline = _Collecting(deliver=False)
        assert await sweep_points(app.services, offline, timedelta(days=14)) == 0
        assert await sweep_points(app.services, notifier, timedelta(days=14)) == 1
        assert await sweep_points(app.services, notifier, timedelta(days=14)) == 0
        ((chat_id, reply),) = notifier.sent
        assert chat_id == chat.chat_id
        assert reply.text.startswith("⏰ 提醒：您有 100 积分将于 2027-11-30 到期")
        clock.now = datetime(2027, 12, 1, 2, 0, tzinfo=UTC)
        await sweep_points(app.services, notifier, timedelta(days=14))
        await chat.send("/points")
        assert chat.texts[0].startswith("积分余额：0")
        assert "过期 -100" in chat.texts[0]
    finally:
        await app.close()


async def test_of_two_bot_processes_only_the_lease_holder_sweeps(app: App) -> None:
    swept: list[str] = []

    async def sweep(process: str) -> None:
        swept.append(process)

    first = under_lease(SchedulerLease(app.services, 60, holder="worker-1"), sweep)
    second = under_lease(SchedulerLease(app.services, 60, holder="worker-2"), sweep)
    await first("worker-1")
    await second("worker-2")
    await first("worker-1")
    assert swept == ["worker-1", "worker-1"]


async def test_a_lease_given_up_on_a_clean_exit_is_taken_at_once_by_the_next_process(
    app: App,
) -> None:
    stopping = SchedulerLease(app.services, 60, holder="worker-1")
    starting = SchedulerLease(app.services, 60, holder="worker-2")
    assert await stopping.held()
    assert not await starting.held()
    await starting.release()  # not its lease: nothing changes
    assert not await starting.held()
    await stopping.release()
    assert await starting.held()
    assert not await stopping.held()
