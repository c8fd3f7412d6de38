"""The scheduler lease's holder is paused mid-batch past its lease: another process takes the
sweeps over, and every reminder is sent exactly once (the paused holder, resumed, sends none of
what it had claimed: its fence refuses, its claims are given back, the new holder sends them)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from bot.assembly import App
from bot.delivery_port import DeliveryPort, LeaseFence
from handlers.contract import Delivery, Reply
from scheduler.reminders import SchedulerLease, deliver_reminders, plan_reminders
from tests.reminder_setup import countdown_due_now
from tests.scale.conftest import needs_postgres, two_processes

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(30)]

CUSTOMERS = range(9101, 9109)
LEASE = 0.3


class Telegram:
    """Both processes' messages as Telegram got them; the first process freezes at its third."""

    def __init__(self) -> None:
        self.got: list[tuple[str, int]] = []
        self.frozen = asyncio.Event()
        self.thaw = asyncio.Event()

    def sender(self, who: str) -> Sender:
        return Sender(self, who)


class Sender:
    def __init__(self, telegram: Telegram, who: str) -> None:
        self.telegram, self.who = telegram, who

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        telegram = self.telegram
        if self.who == "first" and len(telegram.got) == 2 and not telegram.frozen.is_set():
            telegram.frozen.set()  # paused with this message under way, past its lease
            await telegram.thaw.wait()
        telegram.got.append((self.who, chat_id))
        return Delivery.sent(len(telegram.got))


@pytest.fixture
async def apps(postgres_url: str) -> AsyncIterator[tuple[App, App]]:
    async with two_processes(postgres_url, quiet_hours="off") as apps:
        yield apps


async def test_a_paused_holder_and_its_successor_send_each_reminder_once(
    apps: tuple[App, App],
) -> None:
    first, second = apps
    await countdown_due_now(first, CUSTOMERS)
    assert await plan_reminders(first.services) == len(CUSTOMERS)

    telegram = Telegram()
    leases = [
        SchedulerLease(app.services, LEASE, holder=name)
        for app, name in ((first, "first"), (second, "second"))
    ]
    ports = [
        DeliveryPort(telegram.sender(name), fence=LeaseFence(lease.held, fresh_seconds=0.05))
        for lease, name in zip(leases, ("first", "second"), strict=True)
    ]
    assert await leases[0].held()
    holder = asyncio.create_task(
        deliver_reminders(first.services, ports[0], leases[0], batch=5, concurrency=1)
    )
    await telegram.frozen.wait()
    await asyncio.sleep(LEASE + 0.2)  # the lease lapses while the holder is frozen
    # The other process takes the sweeps over: it sends what nobody holds a claim on.
    taken_over = await deliver_reminders(second.services, ports[1], leases[1], batch=5)
    telegram.thaw.set()  # the old holder resumes mid-batch
    await holder
    # Its claimed reminders were given back; the new holder's next sweep sends them.
    taken_over += await deliver_reminders(second.services, ports[1], leases[1], batch=5)

    per_chat = Counter(chat for _, chat in telegram.got)
    assert per_chat == Counter(CUSTOMERS)  # every customer exactly once
    firsts = [n for n, (who, _) in enumerate(telegram.got) if who == "first"]
    # The old holder sent its first two, and the one under way when it froze; nothing after.
    assert len(firsts) == 3
    assert taken_over == len(CUSTOMERS) - 3
