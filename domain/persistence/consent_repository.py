"""Privacy consents: read and kept in the unit of work's transaction; never committed here."""

from __future__ import annotations

from datetime import datetime

from domain.persistence.consent_tables import PrivacyConsentRow
from domain.persistence.core import Repository


class ConsentRepository(Repository):
    async def accepted(self, customer_id: int) -> bool:
        return await self._session.get(PrivacyConsentRow, customer_id) is not None

    async def accept(self, customer_id: int, marketing: bool, at: datetime) -> None:
        row = await self._session.get(PrivacyConsentRow, customer_id)
        if row is None:
            row = PrivacyConsentRow(customer_id=customer_id, accepted_at=at)
            self._session.add(row)
        row.marketing = marketing
        await self._session.flush()
