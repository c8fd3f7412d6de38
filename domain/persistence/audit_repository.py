"""The audit trail: appended in the unit of work's transaction, read newest first. Never
committed here; rows are never changed (the database refuses it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select

from domain.audit import ActorKind, AuditAction, AuditEntry, AuditRecord
from domain.persistence.audit_tables import AuditRow
from domain.persistence.core import Repository

EXPORT_BATCH = 500


def record_of(row: AuditRow) -> AuditRecord:
    entry = AuditEntry(
        action=AuditAction(row.action),
        actor_kind=ActorKind(row.actor_kind),
        actor_id=row.actor_id,
        subject=row.subject,
        detail=row.detail,
        actor_name=row.actor_name,
    )
    return AuditRecord(row.id, row.at, entry)


class AuditRepository(Repository):
    async def append(self, entry: AuditEntry, at: datetime) -> None:
        self._session.add(
            AuditRow(
                at=at,
                action=entry.action.value,
                actor_kind=entry.actor_kind.value,
                actor_id=entry.actor_id,
                actor_name=entry.actor_name[:128],
                subject=entry.subject[:64],
                detail=entry.detail[:255],
            )
        )
        await self._session.flush()

    async def actors(self, action: str, subject: str) -> set[int]:
        """Who (actor ids) recorded `action` on `subject`: e.g. the first approvals given."""
        query = select(AuditRow.actor_id).where(
            AuditRow.action == action, AuditRow.subject == subject
        )
        return {int(actor) for actor in (await self._session.execute(query)).scalars()}

    async def recent(self, limit: int, before_id: int | None = None) -> list[AuditRecord]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        return [record_of(row) for row in (await self._session.execute(query)).scalars()]

    async def within(self, start: datetime, end: datetime, limit: int) -> list[AuditRecord]:
        query = (
            select(AuditRow)
            .where(AuditRow.at >= start, AuditRow.at < end)
            .order_by(AuditRow.id.desc())
            .limit(limit)
        )
        return [record_of(row) for row in (await self._session.execute(query)).scalars()]

    async def all_in_order(self) -> AsyncIterator[AuditRecord]:
        """Every record, oldest first, read in batches."""
        after = 0
        while True:
            query = (
                select(AuditRow)
                .where(AuditRow.id > after)
                .order_by(AuditRow.id)
                .limit(EXPORT_BATCH)
            )
            rows = list((await self._session.execute(query)).scalars())
            for row in rows:
                yield record_of(row)
            if len(rows) < EXPORT_BATCH:
                return
            after = rows[-1].id
