"""Payment PINs (`domain/pin.py`): the hash, wrong tries counted by one conditional statement,
the lock. Never committed here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from domain.persistence.core import Repository
from domain.persistence.pin_tables import CustomerPinRow
from domain.persistence.tables import PhoneBindingRow
from domain.repositories.pins import PinRecord


class PinRepository(Repository):
    async def get(self, customer_id: int) -> PinRecord | None:
        row = await (await self._core()).row(
            select(
                CustomerPinRow.customer_id,
                CustomerPinRow.pin_hash,
                CustomerPinRow.wrong_tries,
                CustomerPinRow.locked_until,
                CustomerPinRow.set_at,
            ).where(CustomerPinRow.customer_id == customer_id)
        )
        if row is None:
            return None
        return PinRecord(
            row.customer_id, row.pin_hash, row.wrong_tries, row.locked_until, row.set_at
        )

    async def set(self, customer_id: int, pin_hash: str, at: datetime) -> None:
        """A new PIN: no wrong tries, no lock."""
        row = await self._session.get(CustomerPinRow, customer_id)
        if row is None:
            row = CustomerPinRow(customer_id=customer_id)
            self._session.add(row)
        row.pin_hash, row.wrong_tries, row.locked_until, row.set_at = pin_hash, 0, None, at
        await self._session.flush()

    async def count_wrong(self, customer_id: int) -> int:
        """One more wrong try (one statement, so concurrent tries all count); the count now."""
        await self._session.execute(
            update(CustomerPinRow)
            .where(CustomerPinRow.customer_id == customer_id)
            .values(wrong_tries=CustomerPinRow.wrong_tries + 1)
            .execution_options(synchronize_session=False)
        )
        result = await self._session.execute(
            select(CustomerPinRow.wrong_tries).where(CustomerPinRow.customer_id == customer_id)
        )
        return int(result.scalar_one())

    async def lock(self, customer_id: int, until: datetime) -> None:
        await self._session.execute(
            update(CustomerPinRow)
            .where(CustomerPinRow.customer_id == customer_id)
            .values(wrong_tries=0, locked_until=until)
            .execution_options(synchronize_session=False)
        )

    async def right(self, customer_id: int) -> None:
        """The right PIN: the wrong tries start again from none."""
        await self._session.execute(
            update(CustomerPinRow)
            .where(CustomerPinRow.customer_id == customer_id, CustomerPinRow.wrong_tries > 0)
            .values(wrong_tries=0)
            .execution_options(synchronize_session=False)
        )

    async def remove(self, customer_id: int) -> None:
        await self._session.execute(
            delete(CustomerPinRow).where(CustomerPinRow.customer_id == customer_id)
        )

    async def verified_number(self, customer_id: int, digits: str) -> bool:
        """Whether the customer bound `digits` by sharing their own Telegram contact."""
        result = await self._session.execute(
            select(PhoneBindingRow.id).where(
                PhoneBindingRow.customer_id == customer_id,
                PhoneBindingRow.digits == digits,
                PhoneBindingRow.verified.is_(True),
            )
        )
        return result.first() is not None
