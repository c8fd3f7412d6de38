"""The digital wallet: its balance and its ledger, as the customer sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.money import CNY, Money
from domain.repositories import UnitOfWorkFactory


@dataclass(frozen=True)
class WalletEntry:
    amount: Money
    kind: str
    order_id: int | None
    at: datetime


class WalletService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def balance(self, customer_id: int) -> Money:
        async with self._uow.read() as uow:
            return Money(await uow.wallets.balance(customer_id), CNY)

    async def ledger_balance(self, customer_id: int) -> Money:
        """The balance as the sum of the ledger; always equal to `balance`."""
        async with self._uow.read() as uow:
            return Money(await uow.wallets.ledger_sum(customer_id), CNY)

    async def entries(self, customer_id: int, limit: int = 10) -> list[WalletEntry]:
        async with self._uow.read() as uow:
            rows = await uow.wallets.entries(customer_id, limit)
        return [
            WalletEntry(Money(r.amount_fen, r.currency), r.kind, r.order_id, r.at) for r in rows
        ]
