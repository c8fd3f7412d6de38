"""Who is staff: the people the settings name (ADMIN_IDS), and those granted a staff role in the
database (agent or supervisor); checked before any staff action."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.languages import Language
from domain.repositories import UnitOfWorkFactory


class StaffRole(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class StaffDirectory:
    """Answers "may this Telegram user act as staff?"; customers never may.

    ADMIN_IDS are staff and supervisors by settings; roles granted in the database add agents
    and supervisors (`python -m bot staff grant <telegram_id> <role>`).
    """

    def __init__(
        self,
        admin_ids: Iterable[int] = (),
        uow: UnitOfWorkFactory | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._admin_ids = frozenset(admin_ids)
        self._uow = uow
        self._clock = clock

    async def is_staff(self, telegram_id: int) -> bool:
        if telegram_id in self._admin_ids:
            return True
        return await self.role(telegram_id) is not None

    async def is_supervisor(self, telegram_id: int) -> bool:
        if telegram_id in self._admin_ids:
            return True
        return await self.role(telegram_id) is StaffRole.SUPERVISOR

    async def role(self, telegram_id: int) -> StaffRole | None:
        if self._uow is None:
            return None
        async with self._uow.read() as uow:
            found = await uow.support.role(telegram_id)
        return StaffRole(found) if found else None

    async def members(self) -> list[int]:
        """Everyone who is staff: ADMIN_IDS and every role granted in the database."""
        granted: list[int] = []
        if self._uow is not None:
            async with self._uow.read() as uow:
                for role in StaffRole:
                    granted += await uow.support.with_role(role)
        return sorted(set(granted) | self._admin_ids)

    async def supervisors(self) -> list[int]:
        """Who SLA escalations go to: supervisors granted in the database, and ADMIN_IDS."""
        granted: list[int] = []
        if self._uow is not None:
            async with self._uow.read() as uow:
                granted = await uow.support.with_role(StaffRole.SUPERVISOR)
        return sorted(set(granted) | self._admin_ids)

    async def grant(self, telegram_id: int, role: StaffRole, by: str = "command line") -> None:
        """Grant `role`; recorded in the audit trail (by whom: `by`) in the same transaction."""
        if self._uow is None:
            raise RuntimeError("staff roles need the database")
        now = self._clock()
        async with self._uow() as uow:
            await uow.support.grant(telegram_id, role.value, now)
            entry = AuditEntry(
                AuditAction.ROLE_GRANTED,
                ActorKind.SYSTEM,
                0,
                f"staff:{telegram_id}",
                f"role={role.value}",
                by,
            )
            await uow.audit.append(entry, now)
            await uow.commit()

    async def revoke(self, telegram_id: int, by: str = "command line") -> bool:
        if self._uow is None:
            return False
        now = self._clock()
        async with self._uow() as uow:
            done = await uow.support.revoke(telegram_id)
            if done:
                entry = AuditEntry(
                    AuditAction.ROLE_REVOKED, ActorKind.SYSTEM, 0, f"staff:{telegram_id}", "", by
                )
                await uow.audit.append(entry, now)
            await uow.commit()
        return done

    async def language_of(self, telegram_id: int) -> Language | None:
        """A staff member's own language: theirs as a customer of the bot (None: they never
        wrote to it)."""
        if self._uow is None:
            return None
        async with self._uow.read() as uow:
            row = await uow.customers.by_telegram_id(telegram_id)
        return Language(row.language) if row is not None else None
