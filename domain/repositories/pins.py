"""Payment PINs, as services may ask for them of the unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class PinRecord:
    """A customer's PIN as kept: only its salted hash, with the wrong tries since the last
    right one and the lock they caused."""

    customer_id: int
    pin_hash: str
    wrong_tries: int
    locked_until: datetime | None
    set_at: datetime


class PinRepository(Protocol):
    async def get(self, customer_id: int) -> PinRecord | None: ...

    async def set(self, customer_id: int, pin_hash: str, at: datetime) -> None:
        """A new PIN (or a changed one): no wrong tries, no lock."""

    async def count_wrong(self, customer_id: int) -> int:
        """One more wrong try, and how many there are now: of concurrent wrong tries, every
        one counts (each sees a different count)."""

    async def lock(self, customer_id: int, until: datetime) -> None:
        """Locked until `until`; the wrong tries start again from none."""

    async def right(self, customer_id: int) -> None:
        """The right PIN: the wrong tries start again from none."""

    async def remove(self, customer_id: int) -> None: ...

    async def verified_number(self, customer_id: int, digits: str) -> bool:
        """Whether the customer bound `digits` by sharing their own Telegram contact."""
