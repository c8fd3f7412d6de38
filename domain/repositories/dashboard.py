"""The dashboard's sign-in tokens, as services may ask for them of the unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class DashboardTokenRepository(Protocol):
    """Sign-in links and the sessions they open, kept by the hash of their token only."""

    def add(
        self, token_hash: str, kind: str, telegram_id: int, at: datetime, until: datetime
    ) -> None:
        """A token of `kind` for the staff member, valid until `until`; a second token of the
        same hash is a `RecordConflict` (at the latest on commit)."""

    async def use(self, token_hash: str, kind: str, now: datetime) -> int | None:
        """Use an unexpired, unused token of `kind` and give its staff member; None when it is
        unknown, expired or used already. Of concurrent uses of one token, one wins."""

    async def holder(self, token_hash: str, kind: str, now: datetime) -> int | None:
        """The staff member of an unexpired, unused token of `kind`."""

    async def forget_expired(self, now: datetime) -> None: ...
