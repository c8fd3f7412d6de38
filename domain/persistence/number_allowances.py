"""The risk counts of phone numbers (`NumberAllowanceRow`): taken within a limit by one
conditional statement, as the customers' allowances are. Never committed here."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from domain.persistence.capped_counts import CappedCounts
from domain.persistence.core import Repository
from domain.persistence.risk_tables import NumberAllowanceRow

_COUNTS = CappedCounts(cast(Table, NumberAllowanceRow.__table__), "number_key")


class NumberAllowanceRepository(Repository):
    async def take(self, key: str, scope: str, amount: int, limit: int) -> bool:
        """Take `amount` of the number's count `scope` if `limit` is not passed by it; False
        (nothing taken) if it would be: the check and the increment are one statement."""
        return await _COUNTS.take(await self._core(), key, scope, amount, limit)
