"""The privacy consents' contract, held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from tests.contracts.conftest import NOW, World


async def test_a_consent_is_kept_once_however_often_it_is_given(world: World) -> None:
    me, other = await world.customer(), await world.customer()
    async with world.units() as uow:
        assert not await uow.consents.accepted(me)
        await uow.consents.accept(me, False, NOW)
    async with world.units.read() as uow:  # not committed: not kept
        assert not await uow.consents.accepted(me)
    async with world.units() as uow:
        await uow.consents.accept(me, False, NOW)
        await uow.commit()
    async with world.units() as uow:
        await uow.consents.accept(me, True, NOW)  # again, with marketing: no conflict
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.consents.accepted(me)
        assert not await uow.consents.accepted(other)
