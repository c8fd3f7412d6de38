"""The dashboard's sign-in tokens and the staff chat's daily digests, as services may ask for
them of the unit of work."""

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


class StaffDigestRepository(Protocol):
    """The staff chat's digest of each day ("YYYY-MM-DD"), sent once."""

    async def claim(self, day: str, now: datetime, until: datetime) -> bool:
        """Take the day's digest to send, until `until`: True for one taker while it is not
        sent and nobody else holds it (a claim that lapsed is taken again)."""

    async def sent(self, day: str, message_id: int | None, at: datetime) -> None:
        """The day's digest was delivered: never sent again."""

    async def release(self, day: str) -> None:
        """The day's digest could not be delivered: the next taker sends it."""
