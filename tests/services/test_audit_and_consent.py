"""Reading the audit trail and keeping privacy consents, on the fake unit of work. That an entry
is kept only with the change it records, and that the database refuses to change one, is tested
on the databases (`tests/integration/test_audit.py`)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from domain.services.audit import AuditTrail
from domain.services.consent import ConsentService
from domain.services.staff import StaffDirectory, StaffRole
from tests.fakes.clock import ManualClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)


async def test_roles_and_exports_are_recorded() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    staff = StaffDirectory({1}, units, clock)
    trail = AuditTrail(units, clock)
    await staff.grant(5151, StaffRole.SUPERVISOR)
    assert await staff.revoke(5151)
    assert not await staff.revoke(5151)  # nothing revoked, nothing recorded
    content = await trail.export_csv(1, "=cmd()")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert [row[3] for row in rows[1:]] == ["role_granted", "role_revoked", "audit_exported"]
    assert rows[1][8] == "role=supervisor"
    assert rows[3][6] == "'=cmd()"  # a spreadsheet never runs a name as a formula
    assert [r.entry.action.value for r in await trail.recent(2)] == [
        "audit_exported",
        "role_revoked",
    ]


async def test_consent_is_asked_once_and_only_when_required() -> None:
    units = FakeUnitOfWorkFactory()
    me = units.database.add_customer()
    assert not await ConsentService(units, required=False).needed(me)
    consent = ConsentService(units, required=True, clock=ManualClock(NOW))
    assert await consent.needed(me)
    await consent.accept(me, marketing=False)
    assert not await consent.needed(me)
    await consent.accept(me, marketing=True)
    assert units.database.tables.consents[me].marketing
    assert units.database.tables.consents[me].accepted_at == NOW
