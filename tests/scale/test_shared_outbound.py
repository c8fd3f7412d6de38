"""Messages nobody just asked for keep Telegram's limits across processes: several delivery
ports (one per process, each with its own engine) on one PostgreSQL database send no more
together than one may; a process that lost the scheduler lease sends none of the sweeps'
messages; a staff alert sent during a customer's turn takes its place like a sweep's message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.assembly import App
from bot.delivery import OutcomeSender
from bot.delivery_port import NOT_THE_HOLDER, DeliveryLimits, DeliveryPort, LeaseFence
from domain.customers import TelegramProfile
from domain.persistence.database import create_engine
from domain.persistence.outbound_limits import PostgresOutboundLimiter, SharedLimits
from handlers.contract import Delivery, DeliveryStatus, Reply, message_event
from scheduler.reminders import SchedulerLease
from tests.integration.test_reads_once import statements_of
from tests.scale.conftest import needs_postgres, two_processes

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(30)]

LIMIT = 10  # a second, over all processes (Telegram's is 30: a smaller one makes a quick test)


class Recorder:
    """The front end's notifier: every message it was given, and when."""

    def __init__(self, sent: list[tuple[float, int]]) -> None:
        self.sent = sent

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        self.sent.append((time.monotonic(), chat_id))
        return Delivery.sent(len(self.sent))


@pytest.fixture
async def engines(postgres_url: str) -> AsyncIterator[list[AsyncEngine]]:
    made = [create_engine(postgres_url) for _ in range(3)]
    try:
        yield made
    finally:
        for engine in made:
            await engine.dispose()


def process(engine: AsyncEngine, sent: list[tuple[float, int]]) -> DeliveryPort:
    """One process's delivery port: its own limits in memory, and the shared ones."""
    return DeliveryPort(
        Recorder(sent),
        DeliveryLimits(global_per_second=LIMIT),
        shared=PostgresOutboundLimiter(engine, SharedLimits(global_per_second=LIMIT)),
    )


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def test_three_processes_together_send_no_more_than_one_may(
    engines: list[AsyncEngine],
) -> None:
    sent: list[tuple[float, int]] = []
    ports = [process(engine, sent) for engine in engines]
    hello = Reply("hello")
    started = time.monotonic()
    # Each process has 8 customers to tell at once (a sweep's receipts): 24 in all.
    results = await asyncio.gather(
        *(port.send(10_000 + 100 * n + m, hello) for n, port in enumerate(ports) for m in range(8))
    )
    assert all(result.status is DeliveryStatus.SENT for result in results)
    assert len(sent) == 24
    assert most_in_one_second([at for at, _ in sent]) <= LIMIT
    # Alone, each process would have sent its 8 in the first second.
    assert time.monotonic() - started >= 2 * 1.0


async def test_a_place_is_the_lock_and_one_statement_that_reads_the_windows_and_takes_it(
    engines: list[AsyncEngine],
) -> None:
    """Under the lock (held in its transaction, so one place at a time over all processes):
    one statement reads the windows and takes the place when they have room, or takes nothing
    and says how long to wait when they have none."""
    limiter = PostgresOutboundLimiter(engines[0], SharedLimits(global_per_second=LIMIT))
    with statements_of(engines[0]) as sent:
        assert await limiter.try_now(77) is None  # taken
        wait = await limiter.try_now(77)  # the chat's second within its second: none
    assert wait is not None and 0 < wait <= SharedLimits().chat_window_seconds
    assert [s.split("(")[0].strip() for s in sent] == [
        "SELECT pg_advisory_xact_lock",
        "WITH now AS",
    ] * 2


async def test_one_private_chat_gets_one_message_a_second_whichever_process_sends(
    engines: list[AsyncEngine],
) -> None:
    sent: list[tuple[float, int]] = []
    first, second = process(engines[0], sent), process(engines[1], sent)
    await asyncio.gather(first.send(42, Reply("one")), second.send(42, Reply("two")))
    (one, _), (two, _) = sorted(sent)
    assert two - one >= 1.0


async def test_a_staff_alert_sent_during_a_turn_takes_its_place_within_the_shared_limits(
    engines: list[AsyncEngine],
) -> None:
    sent: list[tuple[float, int]] = []
    staff_chat = -100_500
    sweep = process(engines[0], sent)
    limiter = PostgresOutboundLimiter(engines[1], SharedLimits(group_per_minute=2))

    class TurnSender(OutcomeSender):
        async def answer_button(self, callback_id: str, notice: str | None) -> None: ...
        async def remove_message(self, chat_id: int, message_id: int) -> Delivery:
            return Delivery.sent(message_id)

        async def answer_pre_checkout(self, query_id: str | None, error: str | None) -> None: ...
        async def send(self, chat_id: int, reply: Reply) -> Delivery:
            sent.append((time.monotonic(), chat_id))
            return Delivery.sent(1)

        async def _edit(self, chat_id: int, message_id: int, reply: Reply) -> bool:
            return False

    turn_sender = TurnSender()
    turn_sender.unasked_limiter = limiter
    customer = message_event(TelegramProfile(7, "Li"), 7, "help!")
    # The sweep's process posted twice in the staff chat (its limit: 2 a minute) ...
    await sweep.send(staff_chat, Reply("ticket 1"))
    await sweep.send(staff_chat, Reply("ticket 2"))
    # ... so another process's alert waits for a place, while its customer is answered at once.
    await turn_sender.reply(customer, Reply("we are on it"))
    alert = asyncio.create_task(turn_sender.reply(customer, Reply("ticket 3", chat_id=staff_chat)))
    await asyncio.sleep(0.5)
    assert not alert.done()
    assert [chat for _, chat in sent] == [staff_chat, staff_chat, 7]
    alert.cancel()


@pytest.fixture
async def two_apps(postgres_url: str) -> AsyncIterator[tuple[App, App]]:
    async with two_processes(postgres_url) as apps:
        yield apps


async def test_a_holder_that_lost_the_lease_while_paused_sends_no_sweep_message(
    two_apps: tuple[App, App],
) -> None:
    sent: list[tuple[float, int]] = []
    paused = SchedulerLease(two_apps[0].services, 0.3, holder="paused")
    taker = SchedulerLease(two_apps[1].services, 0.3, holder="taker")
    paused_port = DeliveryPort(Recorder(sent), fence=LeaseFence(paused.held, fresh_seconds=0.1))
    taker_port = DeliveryPort(Recorder(sent), fence=LeaseFence(taker.held, fresh_seconds=0.1))

    assert (await paused_port.send(1, Reply("receipt 1"))).status is DeliveryStatus.SENT
    assert not await taker.held()  # the other process waits for the lease
    refused = await taker_port.send(2, Reply("receipt 2"))
    assert refused.status is DeliveryStatus.RETRY and refused.reason == NOT_THE_HOLDER

    await asyncio.sleep(0.4)  # the holder is paused past its lease; the other takes it over
    assert await taker.held()
    late = await paused_port.send(3, Reply("receipt 3"))  # resumed mid-batch: not sent
    assert late.status is DeliveryStatus.RETRY and late.reason == NOT_THE_HOLDER
    assert (await taker_port.send(3, Reply("receipt 3"))).status is DeliveryStatus.SENT
    assert [chat for _, chat in sent] == [1, 3]
