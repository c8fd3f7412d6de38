"""The allowances of customers (`domain/allowances.py`): taken within a limit by one
conditional statement, given back when what took them is undone. Never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table

from domain.allowances import Take
from domain.persistence.capped_counts import CappedCounts
from domain.persistence.core import Repository
from domain.persistence.tables import AllowanceRow

_ALLOWANCES = CappedCounts(cast(Table, AllowanceRow.__table__), "customer_id")


class AllowanceRepository(Repository):
    async def take(self, customer_id: int, scope: str, amount: int, limit: int) -> bool:
        """Take `amount` of the customer's allowance `scope` if `limit` is not passed by it;
        False (nothing taken) if it would be; concurrent takes never pass it together."""
        return await _ALLOWANCES.take(await self._core(), customer_id, scope, amount, limit)

    async def take_each(self, customer_id: int, takes: Sequence[Take]) -> set[str]:
        """Each of `takes` taken as `take` would, independently of the others, in one
        statement; the scopes taken."""
        return await _ALLOWANCES.take_each(await self._core(), customer_id, takes)

    async def give_back(self, customer_id: int, scope: str, amount: int) -> None:
        """Give back `amount` taken of `scope` (never below nothing)."""
        await _ALLOWANCES.give_back(await self._core(), customer_id, scope, amount)

    async def used(self, customer_id: int, scope: str) -> int:
        return await _ALLOWANCES.used(await self._core(), customer_id, scope)
