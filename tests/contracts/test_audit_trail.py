"""The audit trail's contract, held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from domain.audit import ActorKind, AuditAction, AuditEntry
from tests.contracts.conftest import NOW, World


def granted(
    n: int, *, subject: str | None = None, detail: str = "", actor_name: str = ""
) -> AuditEntry:
    return AuditEntry(
        AuditAction.ROLE_GRANTED,
        ActorKind.STAFF,
        n,
        subject if subject is not None else f"staff:{n}",
        detail,
        actor_name,
    )


async def test_the_trail_keeps_what_was_committed_newest_first(world: World) -> None:
    async with world.units() as uow:
        for n in range(3):
            await uow.audit.append(granted(n), NOW + timedelta(seconds=n))
        await uow.commit()
    async with world.units() as uow:
        await uow.audit.append(granted(9), NOW)  # never committed
    async with world.units.read() as uow:
        records = await uow.audit.recent(10)
        older = await uow.audit.recent(10, before_id=records[0].id)
        assert len(await uow.audit.recent(2)) == 2
    assert [r.entry.actor_id for r in records] == [2, 1, 0]
    assert [r.at for r in records] == [NOW + timedelta(seconds=n) for n in (2, 1, 0)]
    assert records[0].entry == granted(2)
    assert [r.entry.actor_id for r in older] == [1, 0]


async def test_long_fields_are_cut_to_their_columns(world: World) -> None:
    async with world.units() as uow:
        await uow.audit.append(
            granted(1, subject="s" * 100, detail="d" * 300, actor_name="n" * 200), NOW
        )
        await uow.commit()
    async with world.units.read() as uow:
        [record] = await uow.audit.recent(1)
    assert (len(record.entry.subject), len(record.entry.detail)) == (64, 255)
    assert len(record.entry.actor_name) == 128


async def test_the_whole_trail_reads_oldest_first_past_one_batch(world: World) -> None:
    async with world.units() as uow:
        for n in range(503):
            await uow.audit.append(granted(n), NOW)
        await uow.commit()
    async with world.units.read() as uow:
        records = [record async for record in uow.audit.all_in_order()]
    assert [r.entry.actor_id for r in records] == list(range(503))


async def test_the_actors_of_an_action_on_a_subject(world: World) -> None:
    async with world.units() as uow:
        for n, subject in ((1, "ticket:1"), (2, "ticket:1"), (1, "ticket:1"), (3, "ticket:2")):
            await uow.audit.append(granted(n, subject=subject), NOW)
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.audit.actors(AuditAction.ROLE_GRANTED.value, "ticket:1") == {1, 2}
        assert await uow.audit.actors(AuditAction.ROLE_REVOKED.value, "ticket:1") == set()


async def test_a_periods_records_are_those_from_its_start_to_before_its_end(world: World) -> None:
    async with world.units() as uow:
        for n in range(5):
            await uow.audit.append(granted(n), NOW + timedelta(hours=n))
        await uow.commit()
    start, end = NOW + timedelta(hours=1), NOW + timedelta(hours=4)
    async with world.units.read() as uow:
        within = await uow.audit.within(start, end, 10)
        latest = await uow.audit.within(start, end, 2)
    assert [r.entry.actor_id for r in within] == [3, 2, 1]  # newest first, the end left out
    assert [r.entry.actor_id for r in latest] == [3, 2]
