"""A chat's turns across processes on PostgreSQL: two engines stand for two worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import ChatTurnBusy
from domain.persistence.chat_turns import LOCK_NAMESPACE, PostgresChatTurns, lock_key
from domain.persistence.database import create_engine
from domain.persistence.migrate import current_revision, head_revision, upgrade
from tests.conftest import _drop_postgres_database, _fresh_postgres_database
from tests.scale.conftest import needs_postgres
from tests.scale.tcp_proxy import TcpProxy

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(30)]

CHAT, OTHER_CHAT = 7001, 7002


@pytest.fixture
async def engines(postgres_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    first, second = create_engine(postgres_url), create_engine(postgres_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


class Worker:
    """One process's side: its own engine, turns and per-chat lanes; records what ran."""

    def __init__(self, engine: AsyncEngine, log: list[str], **options: float) -> None:
        self.turns = PostgresChatTurns(engine, **options)  # type: ignore[arg-type]
        self.lanes: dict[int, asyncio.Lock] = {}
        self.log = log

    async def handle(self, chat_id: int, update_id: int, gate: asyncio.Event | None = None) -> bool:
        lane = self.lanes.setdefault(chat_id, asyncio.Lock())
        async with self.turns.turn(chat_id, update_id, lane) as fresh:
            if not fresh:
                return False
            self.log.append(f"start {update_id}")
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(0.01)
            self.log.append(f"end {update_id}")
            return True


async def arrived(engine: AsyncEngine, *update_ids: int) -> None:
    """Wait until every update is recorded as arrived."""
    for _ in range(500):
        async with engine.connect() as connection:
            found = (
                await connection.execute(
                    text("SELECT count(*) FROM chat_updates WHERE update_id = ANY(:ids)"),
                    {"ids": list(update_ids)},
                )
            ).scalar_one()
        if found == len(update_ids):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"updates {update_ids} never arrived")


async def record_arrival(connection: AsyncConnection, update_id: int, seconds_ago: int = 0) -> None:
    """The update of CHAT recorded as arrived, as another process does when it comes to wait."""
    await connection.execute(
        text(
            "INSERT INTO chat_updates (update_id, chat_id, received_at)"
            " VALUES (:update_id, :chat, now() - make_interval(secs => :ago))"
        ),
        {"update_id": update_id, "chat": CHAT, "ago": seconds_ago},
    )


def no_overlap(log: list[str]) -> None:
    running: str | None = None
    for entry in log:
        what, update = entry.split()
        if what == "start":
            assert running is None, f"{update} started while {running} ran: {log}"
            running = update
        else:
            assert running == update
            running = None


async def test_one_chat_never_runs_twice_at_once_across_processes(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    log: list[str] = []
    first, second = Worker(engines[0], log), Worker(engines[1], log)
    runs = [
        (first if n % 2 else second).handle(CHAT, 100 + n)
        for n in range(20)  # alternately to each process, all at once
    ]
    assert all(await asyncio.gather(*runs))
    no_overlap(log)
    assert len(log) == 40


async def test_other_chats_run_while_a_chat_is_held(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    log: list[str] = []
    first, second = Worker(engines[0], log), Worker(engines[1], log)
    gate = asyncio.Event()
    held = asyncio.create_task(first.handle(CHAT, 200, gate))
    await asyncio.sleep(0.1)
    assert await asyncio.wait_for(second.handle(OTHER_CHAT, 201), 2)  # not held up
    assert log == ["start 200", "start 201", "end 201"]
    gate.set()
    assert await held


async def test_waiting_updates_of_a_chat_run_in_update_id_order(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    log: list[str] = []
    first, second = Worker(engines[0], log), Worker(engines[1], log)
    gate = asyncio.Event()
    held = asyncio.create_task(first.handle(CHAT, 300, gate))
    await arrived(engines[0], 300)
    # The later updates reach the processes newest first, and all wait for the held turn.
    waiting = []
    for update_id, worker in ((304, second), (303, first), (302, second), (301, first)):
        waiting.append(asyncio.create_task(worker.handle(CHAT, update_id)))
        await arrived(engines[0], update_id)
    await asyncio.sleep(0.05)
    gate.set()
    assert await held and all(await asyncio.gather(*waiting))
    assert [entry for entry in log if entry.startswith("start")] == [
        f"start {n}" for n in (300, 301, 302, 303, 304)
    ]
    no_overlap(log)


async def test_an_update_still_waiting_for_its_turn_is_not_overtaken_however_long_it_waited(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    # Another process recorded an older update of the chat 6 s ago; it may wait 8 s in all, so
    # it is still waiting for its turn there (a busy worker under load).
    log: list[str] = []
    first, second = Worker(engines[0], log, wait_seconds=8), Worker(engines[1], log, wait_seconds=8)
    async with engines[1].begin() as connection:
        await record_arrival(connection, 401, seconds_ago=6)
    newer = asyncio.create_task(first.handle(CHAT, 402))
    await asyncio.sleep(0.3)
    assert log == []  # the newer update lets it go first
    assert await second.handle(CHAT, 401)
    assert await newer
    assert log == ["start 401", "end 401", "start 402", "end 402"]


async def test_updates_that_wait_for_a_place_together_are_recorded_together(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    log: list[str] = []
    worker = Worker(engines[0], log, concurrent=1)
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO chat_updates (update_id"):
            sent.append(statement)

    gate = asyncio.Event()
    held = asyncio.create_task(worker.handle(OTHER_CHAT, 800, gate))  # takes the one place
    await arrived(engines[0], 800)
    event.listen(engines[0].sync_engine, "before_cursor_execute", count)
    try:
        waiting = [asyncio.create_task(worker.handle(8000 + n, 801 + n)) for n in range(10)]
        await arrived(engines[0], *range(801, 811))  # seen waiting by every other process
        gate.set()
        assert await held and all(await asyncio.gather(*waiting))
    finally:
        event.remove(engines[0].sync_engine, "before_cursor_execute", count)
    assert len(sent) <= 2  # the first at once, the nine that came meanwhile in one more
    assert len([entry for entry in log if entry.startswith("start")]) == 11


async def test_an_update_delivered_again_is_not_worked_twice(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    log: list[str] = []
    first, second = Worker(engines[0], log), Worker(engines[1], log)
    # The same update reaches both processes at once (Telegram resent it): one works it.
    results = await asyncio.gather(first.handle(CHAT, 400), second.handle(CHAT, 400))
    assert sorted(results) == [False, True]
    assert await second.handle(CHAT, 400) is False  # and later, again, nothing
    assert log == ["start 400", "end 400"]


MARK_701 = text("UPDATE chat_updates SET done_at = now() WHERE update_id = 701")


async def test_a_resend_taking_a_free_lock_waits_for_a_done_mark_being_committed(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    """A turn marks its update done and releases the chat's lock in one statement, so the
    lock is free a moment before the mark is committed: a resend of the update that takes the
    lock in that moment must wait for the mark and not work the update again."""
    log: list[str] = []
    worker = Worker(engines[1], log)
    async with engines[0].connect() as marking:
        await record_arrival(marking, 701)
        await marking.commit()
        await marking.execute(MARK_701)  # written, not yet committed; the lock is free
        resend = asyncio.create_task(worker.handle(CHAT, 701))
        await asyncio.sleep(0.3)
        assert not resend.done() and log == []  # waiting for the mark, not working
        await marking.commit()
    assert await asyncio.wait_for(resend, 5) is False
    assert log == []


async def test_a_resend_granted_the_lock_after_waiting_sees_a_done_mark_being_committed(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    """The same when the resend waited for the lock: it is granted the lock as the holder lets
    it go, while the update's mark is still being committed."""
    log: list[str] = []
    first, second = Worker(engines[0], log), Worker(engines[1], log)
    gate = asyncio.Event()
    holder = asyncio.create_task(first.handle(CHAT, 700, gate))
    await arrived(engines[0], 700)
    resend = asyncio.create_task(second.handle(CHAT, 701))
    await arrived(engines[0], 701)  # recorded, now waiting for the chat's lock
    await asyncio.sleep(0.1)
    async with engines[0].connect() as marking:
        await marking.execute(MARK_701)  # written, not yet committed
        gate.set()
        assert await holder  # the lock goes to the resend
        await asyncio.sleep(0.3)
        assert not resend.done()  # waiting for the mark, not working
        await marking.commit()
    assert await asyncio.wait_for(resend, 5) is False
    assert log == ["start 700", "end 700"]


async def test_a_turn_not_had_in_time_is_busy_and_runs_when_sent_again(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    log: list[str] = []
    first = Worker(engines[0], log)
    impatient = Worker(engines[1], log, wait_seconds=0.3)
    gate = asyncio.Event()
    held = asyncio.create_task(first.handle(CHAT, 500, gate))
    await arrived(engines[0], 500)
    with pytest.raises(ChatTurnBusy):
        await impatient.handle(CHAT, 501)
    assert log == ["start 500"]  # 501 did nothing
    gate.set()
    assert await held
    assert await impatient.handle(CHAT, 501)  # Telegram's resend is worked
    assert log == ["start 500", "end 500", "start 501", "end 501"]


async def test_a_holder_that_dies_mid_turn_leaves_the_update_to_be_worked_again(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    log: list[str] = []
    first, second = Worker(engines[0], log), Worker(engines[1], log)
    gate = asyncio.Event()
    held = asyncio.create_task(first.handle(CHAT, 600, gate))
    await arrived(engines[0], 600)
    await asyncio.sleep(0.05)
    # The holder's process dies: its connection goes, and PostgreSQL releases its lock. Only
    # this test's database: another test run on the same server may hold the same chat's key.
    async with engines[1].connect() as connection:
        killed = (
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid = CAST(:namespace AS oid) AND objid = CAST(:key AS oid)"
                    " AND granted AND database = ("
                    "SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"namespace": LOCK_NAMESPACE, "key": lock_key(CHAT) & 0xFFFFFFFF},
            )
        ).all()
    assert killed == [(True,)]
    # Telegram resends the update to the other process, which works it.
    assert await asyncio.wait_for(second.handle(CHAT, 600), 5)
    assert log == ["start 600", "start 600", "end 600"]
    gate.set()
    with pytest.raises(Exception):  # noqa: B017 - the dead holder's connection is gone
        await held


def test_chat_ids_fold_into_lock_keys() -> None:
    for chat_id in (1, -1, 2**31, -(10**12) - 5, 7_999_999_999):
        assert -(2**31) <= lock_key(chat_id) < 2**31
    assert lock_key(CHAT) != lock_key(OTHER_CHAT)


async def test_workers_starting_together_migrate_one_at_a_time() -> None:
    url, name = await _fresh_postgres_database()  # empty: every migration is to be applied
    engines = [create_engine(url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        assert {await current_revision(engine) for engine in engines} == {head_revision()}
    finally:
        for engine in engines:
            await engine.dispose()
        await _drop_postgres_database(name)


async def test_a_turn_whose_database_went_away_gives_its_place_back_and_runs_again(
    postgres_url: str,
) -> None:
    """The database vanishes while a turn is under way (holding the worker's one place for a
    turn): the turn fails as busy (Telegram delivers the update again), its place and its chat
    are free again, and once the database is back the resend runs, not taken for done."""
    async with TcpProxy.before(postgres_url) as database:
        engine = create_engine(database.url_for(postgres_url))
        try:
            turns = PostgresChatTurns(engine, wait_seconds=2, concurrent=1)
            lane = asyncio.Lock()
            with pytest.raises(ChatTurnBusy):
                async with turns.turn(CHAT, 8001, lane) as fresh:
                    assert fresh
                    await database.cut()  # mid-turn
            assert not lane.locked()

            await database.restore()
            async with turns.turn(OTHER_CHAT, 8002, asyncio.Lock()) as fresh:
                assert fresh  # the one place was given back
            async with turns.turn(CHAT, 8001, lane) as fresh:
                assert fresh  # Telegram's resend: not recorded as worked, so it runs
        finally:
            await engine.dispose()
