"""The audit trail on SQLite and PostgreSQL: written in the transaction of the change it records
(nothing when that change is not kept), and never changed or removed (the database refuses)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.money import Money
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.risk import Decision
from tests.integration.test_risk import STAFF, world_of


async def _actions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT action FROM audit_log ORDER BY id"))
        return [row[0] for row in rows]


async def test_a_rule_and_a_decision_are_recorded_with_who(engine: AsyncEngine) -> None:
    world = world_of(engine, orders_per_hour=1)
    customer = await world.customer()
    await world.order(customer, 50)
    await world.order(customer, 50)
    [case] = await world.services.risk.pending()
    assert await _actions(engine) == ["risk_rule_fired"]
    await world.services.risk.decide(case.id, Decision.REFUND, STAFF, "Li")
    await world.services.risk.decide(case.id, Decision.RELEASE, STAFF, "Li")  # taken already
    records = await world.services.audit.recent()
    assert [r.entry.action for r in records] == [
        AuditAction.RISK_REFUNDED,
        AuditAction.RISK_RULE_FIRED,
    ]
    decided = records[0]
    assert (decided.entry.actor_kind, decided.entry.actor_id) == (ActorKind.STAFF, STAFF)
    assert (decided.entry.actor_name, decided.entry.subject) == ("Li", f"case:{case.id}")
    assert decided.at == world.clock.now


async def test_an_entry_of_a_change_not_kept_is_not_kept(engine: AsyncEngine) -> None:
    uow_factory = UnitOfWorkFactory.of(engine)
    async with uow_factory() as uow:
        entry = AuditEntry(AuditAction.PIN_LOCKED, ActorKind.SYSTEM, 0, "customer:1")
        await uow.audit.append(entry, world_of(engine).clock.now)
        # No commit: the change it records is rolled back, and the record with it.
    assert await _actions(engine) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET detail = 'rewritten'",
        "DELETE FROM audit_log",
    ],
)
async def test_the_database_refuses_to_change_or_remove_a_record(
    engine: AsyncEngine, statement: str
) -> None:
    world = world_of(engine, new_account_large_fen=Money.yuan(10).fen)
    customer = await world.customer()
    await world.order(customer, 50)
    before = await _actions(engine)
    assert before == ["risk_rule_fired"]
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    assert await _actions(engine) == before
    async with engine.connect() as connection:
        detail = (await connection.execute(text("SELECT detail FROM audit_log"))).scalar_one()
    assert detail.startswith("rule=new_account_large")
