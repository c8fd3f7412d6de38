"""A process holds no more PostgreSQL connections than its settings give it (several processes
share the server's connections), and a unit of work that cannot get one in time fails clearly
instead of waiting for ever (`DatabaseBusy`, in the domain's words)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import event

from bot.assembly import build_app
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
