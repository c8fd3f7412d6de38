"""A process holds no more PostgreSQL connections than its settings give it (several processes
share the server's connections), and a unit of work that cannot get one in time fails clearly
instead of waiting for ever (`DatabaseBusy`, in the domain's words)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import QueuePool

from bot.assembly import build_app, chat_turn_places, unit_of_work_factory
from domain.errors import DatabaseBusy
from domain.persistence.database import PoolBudget, create_engine
from domain.persistence.unit_of_work import UnitOfWorkFactory
from tests.conftest import make_settings

POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@POSTGRES
async def test_the_settings_size_the_pool_of_each_process(database_url: str) -> None:
    settings = make_settings(
        database_url, demo_mode=True, database_pool_size=3, database_max_overflow=2
    )
    app = await build_app(settings)
    try:
        assert app.engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        await app.close()


@POSTGRES
async def test_a_workers_units_of_work_may_use_its_burst_connections_too(database_url: str) -> None:
    """A webhook worker on PostgreSQL: two connections of its pool and burst for single
    statements, three quarters of the rest for chat turns (their units of work run on them),
    the last quarter for units of work outside turns; a pool of 10 + 30 leaves those 9 places,
    not one."""
    settings = make_settings(
        database_url,
        webhook_url="https://bot.example/hook",
        webhook_secret="s3cret-token",
        database_pool_size=10,
        database_max_overflow=30,
    )
    engine = create_engine(database_url, pool=PoolBudget(size=10, overflow=30))
    try:
        gate = unit_of_work_factory(settings, engine).gate
        assert chat_turn_places(settings) == 29
        assert gate is not None and gate.places == 40 - 29 - 2
    finally:
        await engine.dispose()


@POSTGRES
async def test_a_unit_of_work_beyond_the_budget_fails_after_the_pool_timeout(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool=PoolBudget(size=2, overflow=0, timeout_seconds=0.3))
    uow = UnitOfWorkFactory.of(engine)
    release = asyncio.Event()
    holding = [asyncio.create_task(_hold(uow, release)) for _ in range(2)]
    try:
        await asyncio.sleep(0.2)  # every connection of the budget in use (each by a customer)
        started = time.perf_counter()
        with pytest.raises(DatabaseBusy):
            await _one_more(uow)
        assert time.perf_counter() - started < 5
    finally:
        release.set()
        await asyncio.gather(*holding)
        await engine.dispose()


async def _hold(uow: UnitOfWorkFactory, release: asyncio.Event) -> None:
    async with uow.read() as work:
        await work.core()
        await release.wait()


async def _one_more(uow: UnitOfWorkFactory) -> None:
    async with uow.read() as work:
        await work.core()


@POSTGRES
async def test_steady_load_past_the_default_pool_opens_no_connection_again(
    database_url: str,
) -> None:
    """Burst connections are closed as soon as they are given back to a full pool: with any by
    default, every wave of work past the pool's size would open them again (a new server
    process each, its statements prepared again). The default keeps what it opened."""
    settings = make_settings(database_url)
    engine = create_engine(
        database_url,
        pool=PoolBudget(
            settings.database_pool_size,
            settings.database_max_overflow,
            settings.database_pool_timeout_seconds,
        ),
    )
    opened: list[object] = []
    event.listen(engine.sync_engine.pool, "connect", lambda *_: opened.append(1))
    uow = UnitOfWorkFactory.of(engine)
    try:
        for _ in range(3):  # three waves, each of more customers than the pool holds
            release = asyncio.Event()
            wave = [
                asyncio.create_task(_hold(uow, release))
                for _ in range(settings.database_pool_size + 5)
            ]
            await asyncio.sleep(0.3)
            release.set()
            await asyncio.gather(*wave)
        assert len(opened) == settings.database_pool_size
    finally:
        await engine.dispose()


async def test_units_waiting_for_a_connection_are_served_in_the_order_they_asked(
    database_url: str,
) -> None:
    """A customer whose unit of work waits for a connection is not overtaken by units asked
    for after it. With the pool alone, a task that gives its connection back and opens its next
    unit at once took the connection again, and the woken waiter queued anew at the end: under
    a burst, some customers waited out the pool's timeout and were refused "busy"."""
    engine = create_engine(database_url, pool=PoolBudget(size=1, overflow=0, timeout_seconds=30))
    # One unit at a time (SQLite's pool keeps a fixed five connections: four set aside).
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    uow = UnitOfWorkFactory(engine, set_aside=pool.size() - 1)
    served: list[str] = []
    busy_started = asyncio.Event()

    async def one_unit(customer: str) -> None:
        async with uow.read() as work:
            busy_started.set()
            assert await (await work.core()).value(text("SELECT 1")) == 1
            await asyncio.sleep(0.01)  # the unit's work, its connection held
            served.append(customer)

    async def busy_customer() -> None:
        for _ in range(8):
            await one_unit("busy")

    try:
        busy = asyncio.create_task(busy_customer())
        await busy_started.wait()  # the busy customer's first unit holds the only connection
        await asyncio.wait_for(one_unit("waiting"), timeout=20)
        await busy
    finally:
        await engine.dispose()
    # Served right after the unit that held the connection when it asked.
    assert served.index("waiting") == 1, served
