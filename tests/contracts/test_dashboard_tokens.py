"""The dashboard sign-in tokens' contract, held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.errors import RecordConflict
from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(minutes=10)


async def test_a_token_is_used_once_and_only_while_it_lasts(world: World) -> None:
    async with world.units() as uow:
        uow.dashboard_tokens.add("a" * 64, "link", 7, NOW, LATER)
        uow.dashboard_tokens.add("b" * 64, "link", 8, NOW, LATER)
        await uow.commit()
    async with world.units() as uow:
        assert await uow.dashboard_tokens.use("a" * 64, "session", NOW) is None  # not a session
        assert await uow.dashboard_tokens.use("a" * 64, "link", NOW) == 7
        assert await uow.dashboard_tokens.use("a" * 64, "link", NOW) is None  # used
        assert await uow.dashboard_tokens.use("b" * 64, "link", LATER) is None  # expired
        assert await uow.dashboard_tokens.use("c" * 64, "link", NOW) is None  # unknown
        await uow.commit()


async def test_of_concurrent_uses_of_one_token_one_wins(world: World) -> None:
    async with world.units() as uow:
        uow.dashboard_tokens.add("a" * 64, "link", 7, NOW, LATER)
        await uow.commit()

    async def use() -> int | None:
        async with world.units() as uow:
            holder = await uow.dashboard_tokens.use("a" * 64, "link", NOW)
            await uow.commit()
        return holder

    assert sorted(await asyncio.gather(*(use() for _ in range(4))), key=str) == [7] + [None] * 3


async def test_a_session_has_a_holder_until_it_ends_and_expired_ones_are_forgotten(
    world: World,
) -> None:
    async with world.units() as uow:
        uow.dashboard_tokens.add("s" * 64, "session", 9, NOW, LATER)
        uow.dashboard_tokens.add("t" * 64, "session", 10, NOW, NOW + timedelta(minutes=1))
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.dashboard_tokens.holder("s" * 64, "session", NOW) == 9
        assert await uow.dashboard_tokens.holder("s" * 64, "link", NOW) is None
        assert await uow.dashboard_tokens.holder("s" * 64, "session", LATER) is None
    async with world.units() as uow:
        await uow.dashboard_tokens.forget_expired(NOW + timedelta(minutes=1))
        assert await uow.dashboard_tokens.use("s" * 64, "session", NOW) == 9  # signed out
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.dashboard_tokens.holder("s" * 64, "session", NOW) is None
        assert await uow.dashboard_tokens.holder("t" * 64, "session", NOW) is None


async def test_a_token_hash_is_kept_once(world: World) -> None:
    async with world.units() as uow:
        uow.dashboard_tokens.add("a" * 64, "link", 7, NOW, LATER)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            uow.dashboard_tokens.add("a" * 64, "session", 8, NOW, LATER)
            await uow.commit()
    async with world.units.read() as uow:
        assert await uow.dashboard_tokens.holder("a" * 64, "link", NOW) == 7
