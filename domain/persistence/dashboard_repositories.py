"""Dashboard sign-in tokens and the staff chat's daily digests, over one unit of work. They
never commit; the unit of work does."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, select, update

from domain.persistence.core import OnConflict, Repository
from domain.persistence.dashboard_tables import DashboardTokenRow, StaffDigestRow


class DashboardTokenRepository(Repository):
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


_DIGESTS = cast(Table, StaffDigestRow.__table__)
_UNTIL = bindparam("until", type_=_DIGESTS.c.claimed_until.type)
_CLAIM_DIGEST = (
    update(_DIGESTS)
    .where(
        _DIGESTS.c.day == bindparam("v_day"),
        _DIGESTS.c.sent_at.is_(None),
        _DIGESTS.c.claimed_until.is_(None)
        | (_DIGESTS.c.claimed_until <= bindparam("now", type_=_DIGESTS.c.claimed_until.type)),
    )
    .values(claimed_until=_UNTIL)
    .returning(_DIGESTS.c.day)
)
_NEW_DIGEST = OnConflict(
    lambda insert: (
        insert(_DIGESTS)
        .values(day=bindparam("v_day"), claimed_until=_UNTIL)
        .on_conflict_do_nothing(index_elements=[_DIGESTS.c.day])
        .returning(_DIGESTS.c.day)
    )
)


class StaffDigestRepository(Repository):
    """The staff chat's daily digests, one row a day: claimed by one sender at a time (a
    conditional write, or the day's first insert), recorded sent once."""

    async def claim(self, day: str, now: datetime, until: datetime) -> bool:
        core = await self._core()
        if await core.run(_CLAIM_DIGEST, v_day=day, now=now, until=until):
            return True
        return bool(await core.run(_NEW_DIGEST, v_day=day, until=until))

    async def sent(self, day: str, message_id: int | None, at: datetime) -> None:
        await (await self._core()).run(
            update(_DIGESTS)
            .where(_DIGESTS.c.day == day)
            .values(sent_at=at, message_id=message_id, claimed_until=None)
        )

    async def release(self, day: str) -> None:
        await (await self._core()).run(
            update(_DIGESTS)
            .where(_DIGESTS.c.day == day, _DIGESTS.c.sent_at.is_(None))
            .values(claimed_until=None)
        )
