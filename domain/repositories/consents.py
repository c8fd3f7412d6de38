"""Consent to the privacy notice, as services may ask for it of the unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ConsentRepository(Protocol):
    """One consent per customer: the privacy notice, and marketing pushes apart."""

    async def accepted(self, customer_id: int) -> bool: ...

    async def accept(self, customer_id: int, marketing: bool, at: datetime) -> None:
        """Agreed at `at`, or again (the first time is kept; the marketing choice is the
        latest)."""
