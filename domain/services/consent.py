"""Consent to the privacy notice (PIPL): asked at the first /start, before any phone number is
kept; marketing pushes are a separate, optional consent. Off (nobody asked) when not required."""

from __future__ import annotations

from domain.clock import Clock, utc_now
from domain.repositories import UnitOfWorkFactory


class ConsentService:
    def __init__(self, uow: UnitOfWorkFactory, required: bool, clock: Clock = utc_now) -> None:
        self._uow = uow
        self.required = required
        self._clock = clock

    async def needed(self, customer_id: int, *, accepted: bool | None = None) -> bool:
        """Whether the customer must still agree before personal data of theirs is kept;
        `accepted`: whether they had, as their turn read it (None: read it now)."""
        if not self.required:
            return False
        if accepted is not None:
            return not accepted
        async with self._uow.read() as uow:
            return not await uow.consents.accepted(customer_id)

    async def accept(self, customer_id: int, marketing: bool) -> None:
        """Agreed now (again: the marketing choice is updated)."""
        async with self._uow() as uow:
            await uow.consents.accept(customer_id, marketing, self._clock())
            await uow.commit()
