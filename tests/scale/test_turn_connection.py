"""A chat turn's units of work run on the connection that holds the chat's lock, on PostgreSQL:
one connection a turn, with each unit still one transaction of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import RecordConflict
from domain.persistence.chat_turns import PostgresChatTurns
from domain.persistence.database import create_engine
from domain.persistence.unit_of_work import UnitOfWorkFactory
from tests.scale.conftest import needs_postgres

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(30)]

CHAT = 7101
WRITE = text(
    "INSERT INTO chat_updates (update_id, chat_id, received_at) VALUES (:update_id, :chat, now())"
)
COUNT = text("SELECT count(*) FROM chat_updates WHERE chat_id = :chat")


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def written_elsewhere(engine: AsyncEngine) -> int:
    """What another connection sees of the rows the tests write (committed ones only)."""
    async with engine.connect() as connection:
        return int((await connection.execute(COUNT, {"chat": CHAT + 1})).scalar_one())


async def write(units: UnitOfWorkFactory, update_id: int, *, commit: bool = True) -> None:
    async with units() as uow:
        await (await uow.core()).run(WRITE, update_id=update_id, chat=CHAT + 1)
        if commit:
            await uow.commit()


async def test_a_turns_units_take_no_connection_of_their_own(engine: AsyncEngine) -> None:
    turns, units = PostgresChatTurns(engine), UnitOfWorkFactory(engine)
    pool = engine.sync_engine.pool
    async with turns.turn(CHAT, 1, asyncio.Lock()):
        async with units() as uow:
            await (await uow.core()).run(WRITE, update_id=11, chat=CHAT + 1)
            assert pool.checkedout() == 1  # type: ignore[attr-defined]
            assert await written_elsewhere(engine) == 0  # still its own transaction
            await uow.commit()
        assert await written_elsewhere(engine) == 1  # committed before the turn ends
        async with units.read() as uow:
            assert await (await uow.core()).value(COUNT, chat=CHAT + 1) == 1
            assert pool.checkedout() == 1  # type: ignore[attr-defined]
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_failed_unit_in_a_turn_keeps_nothing_and_the_turn_goes_on(
    engine: AsyncEngine,
) -> None:
    turns, units = PostgresChatTurns(engine), UnitOfWorkFactory(engine)
    async with turns.turn(CHAT, 2, asyncio.Lock()) as fresh:
        assert fresh
        await write(units, 21, commit=False)  # left without a commit: rolled back
        with pytest.raises(RecordConflict):
            async with units() as uow:
                core = await uow.core()
                await core.run(WRITE, update_id=22, chat=CHAT + 1)
                await core.run(WRITE, update_id=22, chat=CHAT + 1)  # the same key again
        await write(units, 23)
    assert await written_elsewhere(engine) == 1
    async with engine.connect() as connection:
        done = await connection.execute(
            text("SELECT done_at IS NOT NULL FROM chat_updates WHERE update_id = 2")
        )
        assert done.scalar_one()  # the turn's done mark went on the same connection after them
    async with turns.turn(CHAT, 2, asyncio.Lock()) as fresh:
        assert not fresh


async def test_a_task_started_in_a_turn_takes_its_own_connection(engine: AsyncEngine) -> None:
    turns, units = PostgresChatTurns(engine), UnitOfWorkFactory(engine)
    inside = asyncio.Event()
    release = asyncio.Event()
    pool = engine.sync_engine.pool

    async def beside() -> None:
        async with units() as uow:
            await (await uow.core()).run(WRITE, update_id=31, chat=CHAT + 1)
            inside.set()
            await release.wait()
            await uow.commit()

    async with turns.turn(CHAT, 3, asyncio.Lock()):
        task = asyncio.create_task(beside())
        await inside.wait()
        assert pool.checkedout() == 2  # type: ignore[attr-defined]
        await write(units, 32)  # the turn's own unit, on the turn's connection meanwhile
        release.set()
        await task
    assert await written_elsewhere(engine) == 2
