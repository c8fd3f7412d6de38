"""Who is staff: the people the settings name (ADMIN_IDS), checked before any staff action."""

from __future__ import annotations

from collections.abc import Iterable


class StaffDirectory:
    """Answers "may this Telegram user act as staff?"; customers never may."""

    def __init__(self, admin_ids: Iterable[int] = ()) -> None:
        self._admin_ids = frozenset(admin_ids)

    async def is_staff(self, telegram_id: int) -> bool:
        return telegram_id in self._admin_ids
