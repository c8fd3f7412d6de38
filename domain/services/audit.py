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

    async def export_csv(self, staff_id: int, staff_name: str) -> bytes:
        """Every record, oldest first, as CSV; the export is recorded too (and in it)."""
        async with self._uow() as uow:
            entry = AuditEntry(
                AuditAction.AUDIT_EXPORTED, ActorKind.STAFF, staff_id, "audit_log", "", staff_name
            )
            await uow.audit.append(entry, self._clock())
            records = [record async for record in uow.audit.all_in_order()]
            await uow.commit()
        return audit_csv(records)
