"""Dashboard sign-in tokens over one session. They never commit; the unit of work does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.persistence.dashboard_tables import DashboardTokenRow


class DashboardTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(
        self, token_hash: str, kind: str, telegram_id: int, at: datetime, until: datetime
    ) -> None:
        self._session.add(
            DashboardTokenRow(
                token_hash=token_hash,
                kind=kind,
                telegram_id=telegram_id,
                created_at=at,
                expires_at=until,
            )
        )

    async def use(self, token_hash: str, kind: str, now: datetime) -> int | None:
        """Mark an unexpired, unused token used and give its staff member; None when it is
        unknown, expired or already used (one conditional update: only one use can win)."""
        found = await self._session.execute(
            update(DashboardTokenRow)
            .where(
                DashboardTokenRow.token_hash == token_hash,
                DashboardTokenRow.kind == kind,
                DashboardTokenRow.used_at.is_(None),
                DashboardTokenRow.expires_at > now,
            )
            .values(used_at=now)
            .returning(DashboardTokenRow.telegram_id)
            .execution_options(synchronize_session=False)
        )
        return found.scalar_one_or_none()

    async def holder(self, token_hash: str, kind: str, now: datetime) -> int | None:
        """The staff member of an unexpired, unused token (a session in use)."""
        return await self._session.scalar(
            select(DashboardTokenRow.telegram_id).where(
                DashboardTokenRow.token_hash == token_hash,
                DashboardTokenRow.kind == kind,
                DashboardTokenRow.used_at.is_(None),
                DashboardTokenRow.expires_at > now,
            )
        )

    async def forget_expired(self, now: datetime) -> None:
        await self._session.execute(
            delete(DashboardTokenRow).where(DashboardTokenRow.expires_at <= now)
        )
