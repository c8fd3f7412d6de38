"""Who is staff, on the fake unit of work: settings and granted roles, each grant and revoke in
the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.audit import AuditAction
from domain.languages import Language
from domain.services.staff import StaffDirectory, StaffRole
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)


async def test_roles_come_from_settings_and_grants_and_each_change_is_audited() -> None:
    units = FakeUnitOfWorkFactory()
    staff = StaffDirectory({1}, units, clock=lambda: NOW)
    assert await staff.is_supervisor(1) and not await staff.is_staff(2)
    await staff.grant(2, StaffRole.AGENT, by="admin")
    await staff.grant(3, StaffRole.SUPERVISOR)
    assert await staff.is_staff(2) and not await staff.is_supervisor(2)
    assert await staff.role(3) is StaffRole.SUPERVISOR
    assert await staff.supervisors() == [1, 3]
    assert await staff.revoke(2)
    assert not await staff.revoke(2)  # nothing to revoke: nothing audited
    assert not await staff.is_staff(2)
    async with units.read() as uow:
        trail = await uow.audit.recent(10)
    assert [(r.entry.action, r.entry.subject, r.entry.actor_name) for r in trail] == [
        (AuditAction.ROLE_REVOKED, "staff:2", "command line"),
        (AuditAction.ROLE_GRANTED, "staff:3", "command line"),
        (AuditAction.ROLE_GRANTED, "staff:2", "admin"),
    ]


async def test_a_staff_members_language_is_theirs_as_a_customer() -> None:
    units = FakeUnitOfWorkFactory()
    me = units.database.add_customer()
    async with units() as uow:
        await uow.customers.set_language(me, Language.EN.value)
        await uow.commit()
    staff = StaffDirectory((), units)
    telegram_id = units.database.tables.customers[me].telegram_id
    assert telegram_id is not None
    assert await staff.language_of(telegram_id) is Language.EN
    assert await staff.language_of(telegram_id + 1) is None
    assert await StaffDirectory((), None).language_of(telegram_id) is None
