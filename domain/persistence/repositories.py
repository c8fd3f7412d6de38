"""Repositories: queries over one session. They never commit; the unit of work does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.persistence.tables import ConversationRow, CustomerRow, PhoneBindingRow


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_telegram_id(self, telegram_id: int) -> CustomerRow | None:
        result = await self._session.execute(
            select(CustomerRow).where(CustomerRow.telegram_id == telegram_id)
        )
        return result.scalar_one_or_none()

    async def get(self, customer_id: int) -> CustomerRow | None:
        return await self._session.get(CustomerRow, customer_id)

    def add(self, row: CustomerRow) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()


class PhoneBindingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_customer(self, customer_id: int) -> list[PhoneBindingRow]:
        result = await self._session.execute(
            select(PhoneBindingRow)
            .where(PhoneBindingRow.customer_id == customer_id)
            .order_by(PhoneBindingRow.bound_at, PhoneBindingRow.id)
        )
        return list(result.scalars())

    def add(self, row: PhoneBindingRow) -> None:
        self._session.add(row)

    async def remove(self, customer_id: int, binding_id: int) -> bool:
        result = await self._session.execute(
            delete(PhoneBindingRow).where(
                PhoneBindingRow.id == binding_id, PhoneBindingRow.customer_id == customer_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove_all(self, customer_id: int) -> None:
        await self._session.execute(
            delete(PhoneBindingRow).where(PhoneBindingRow.customer_id == customer_id)
        )


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(self, chat_id: int, telegram_id: int) -> ConversationRow | None:
        result = await self._session.execute(
            select(ConversationRow).where(
                ConversationRow.chat_id == chat_id, ConversationRow.telegram_id == telegram_id
            )
        )
        return result.scalar_one_or_none()

    def add(self, row: ConversationRow) -> None:
        self._session.add(row)

    async def forget_user(self, telegram_id: int) -> None:
        await self._session.execute(
            delete(ConversationRow).where(ConversationRow.telegram_id == telegram_id)
        )

    async def reset_idle_since(self, cutoff: datetime, idle_step: str) -> int:
        result = await self._session.execute(
            update(ConversationRow)
            .where(ConversationRow.updated_at < cutoff, ConversationRow.step != idle_step)
            .values(step=idle_step, data={}, updated_at=cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
