"""The risk counts of phone numbers (`NumberAllowanceRow`): taken within a limit by one
conditional statement, as the customers' allowances are. Never committed here."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import BigInteger, Insert, Table, bindparam, update

from domain.persistence.core import OnConflict, Repository
from domain.persistence.risk_tables import NumberAllowanceRow

_COUNTS = cast(Table, NumberAllowanceRow.__table__)
_OF = (_COUNTS.c.number_key == bindparam("key"), _COUNTS.c.scope == bindparam("of_scope"))


def _opened(insert: Any) -> Insert:
    """The count's row, at nothing used, unless it exists."""
    return (
        insert(_COUNTS)
        .values(  # type: ignore[no-any-return]
            number_key=bindparam("key"), scope=bindparam("of_scope"), used=0
        )
        .on_conflict_do_nothing(index_elements=[_COUNTS.c.number_key, _COUNTS.c.scope])
    )


_OPEN = OnConflict(_opened)
_AMOUNT = bindparam("amount", type_=BigInteger)
_TAKE = (
    update(_COUNTS)
    .where(*_OF, _COUNTS.c.used + _AMOUNT <= bindparam("ceiling", type_=BigInteger))
    .values(used=_COUNTS.c.used + _AMOUNT)
)


class NumberAllowanceRepository(Repository):
    async def take(self, key: str, scope: str, amount: int, limit: int) -> bool:
        """Take `amount` of the number's count `scope` if `limit` is not passed by it; False
        (nothing taken) if it would be: the check and the increment are one statement."""
        core = await self._core()
        params = {"key": key, "of_scope": scope, "amount": amount, "ceiling": limit}
        if await core.run(_TAKE, **params):
            return True
        await core.run(_OPEN, key=key, of_scope=scope)
        return await core.run(_TAKE, **params) > 0
