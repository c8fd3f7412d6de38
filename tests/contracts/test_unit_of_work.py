"""The unit of work's own contract, held by the fake and both databases alike."""

from __future__ import annotations

import pytest

from domain.persistence.unit_of_work import NestedUnitOfWorkError
from tests.contracts.conftest import NOW, World


async def test_a_unit_of_work_is_never_opened_inside_another(world: World) -> None:
    async with world.units() as outer:
        with pytest.raises(NestedUnitOfWorkError):
            async with world.units.read():
                pass
        await outer.support.grant(5, "agent", NOW)
        await outer.commit()
    async with world.units.read() as uow:  # the outer one was not disturbed
        assert await uow.support.role(5) == "agent"


async def test_a_reader_sees_what_was_committed_before_it_began(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        assert await uow.wallets.post(me, 100, "CNY", "topup", "t1", NOW)
        await uow.commit()
        assert await uow.wallets.post(me, 50, "CNY", "topup", "t2", NOW)  # after the commit:
    async with world.units.read() as uow:  # never committed, so never kept
        assert await uow.wallets.balance(me) == 100
        assert await uow.wallets.has_entry("t1") and not await uow.wallets.has_entry("t2")
