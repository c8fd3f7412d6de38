"""Reading the audit trail (supervisors): the latest records, and every record as CSV; the
export is itself recorded, in the same transaction that reads it."""

from __future__ import annotations

from datetime import datetime

from domain.audit import ActorKind, AuditAction, AuditEntry, AuditRecord, audit_csv
from domain.clock import Clock, utc_now
from domain.repositories import UnitOfWorkFactory


class AuditTrail:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def recent(self, limit: int = 20, before_id: int | None = None) -> list[AuditRecord]:
        async with self._uow.read() as uow:
            return await uow.audit.recent(limit, before_id)

    async def within(self, start: datetime, end: datetime, limit: int) -> list[AuditRecord]:
        """The records of a period, newest first (at most `limit`)."""
        async with self._uow.read() as uow:
            return await uow.audit.within(start, end, limit)

    async def record_export(self, staff_id: int, staff_name: str, detail: str) -> None:
        """Record that a staff member took a copy of audit records elsewhere (`detail`: which)."""
        async with self._uow() as uow:
            await uow.audit.append(_exported(staff_id, staff_name, detail), self._clock())
            await uow.commit()

    async def export_csv(self, staff_id: int, staff_name: str) -> bytes:
        """Every record, oldest first, as CSV; the export is recorded too (and in it)."""
        async with self._uow() as uow:
            await uow.audit.append(_exported(staff_id, staff_name, ""), self._clock())
            records = [record async for record in uow.audit.all_in_order()]
            await uow.commit()
        return audit_csv(records)


def _exported(staff_id: int, staff_name: str, detail: str) -> AuditEntry:
    return AuditEntry(
        AuditAction.AUDIT_EXPORTED, ActorKind.STAFF, staff_id, "audit_log", detail, staff_name
    )
