"""The wallet repository's contract, held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.errors import RecordConflict
from tests.contracts.conftest import NOW, World


async def test_a_post_moves_the_balance_with_its_entry_and_never_below_zero(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        assert await uow.wallets.post(me, 500, "CNY", "topup", "t1", NOW)
        assert await uow.wallets.post(me, -200, "CNY", "payment", "p1", NOW, order_id=None)
        assert not await uow.wallets.post(me, -301, "CNY", "payment", "p2", NOW)
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.wallets.balance(me) == 300
        assert await uow.wallets.ledger_sum(me) == 300
        assert await uow.wallets.has_entry("p1")
        assert not await uow.wallets.has_entry("p2")
        entries = await uow.wallets.entries(me, 10)
        assert [e.idempotency_key for e in await uow.wallets.entries(me, 1)] == ["p1"]
    assert [(e.amount_fen, e.kind, e.currency, e.at) for e in entries] == [
        (-200, "payment", "CNY", NOW),
        (500, "topup", "CNY", NOW),
    ]
    assert {e.customer_id for e in entries} == {me}


async def test_a_replayed_entry_is_a_conflict_and_keeps_nothing(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        assert await uow.wallets.post(me, 500, "CNY", "topup", "same", NOW)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            await uow.wallets.post(me, 500, "CNY", "topup", "same", NOW + timedelta(seconds=1))
            await uow.commit()
    async with world.units.read() as uow:
        assert await uow.wallets.balance(me) == 500
        assert len(await uow.wallets.entries(me, 10)) == 1


async def test_nothing_moves_without_a_wallet_or_without_a_commit(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        assert await uow.wallets.post(me, 500, "CNY", "topup", "t1", NOW)
    async with world.units.read() as uow:
        assert await uow.wallets.balance(me) == 0
        assert await uow.wallets.entries(me, 10) == []
        assert await uow.wallets.balance(me + 99) == 0
    async with world.units() as uow:
        assert not await uow.wallets.post(me + 99, 500, "CNY", "topup", "t2", NOW)


async def test_concurrent_debits_never_overdraw(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        assert await uow.wallets.post(me, 5, "CNY", "topup", "t", NOW)
        await uow.commit()

    async def spend(n: int) -> bool:
        async with world.units() as uow:
            done = await uow.wallets.post(me, -1, "CNY", "payment", f"spend:{n}", NOW)
            await uow.commit()
        return done

    results = await asyncio.gather(*(spend(n) for n in range(8)))
    assert results.count(True) == 5
    async with world.units.read() as uow:
        assert await uow.wallets.balance(me) == 0
        assert await uow.wallets.ledger_sum(me) == 0
