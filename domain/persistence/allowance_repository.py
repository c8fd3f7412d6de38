"""The allowances of customers (`domain/allowances.py`): taken within a limit by one
conditional statement, given back when what took them is undone. Never committed here."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import BigInteger, Insert, Table, bindparam, case, select, update

from domain.persistence.core import OnConflict, Repository
from domain.persistence.tables import AllowanceRow

_ALLOWANCES = cast(Table, AllowanceRow.__table__)
_OF = (
    _ALLOWANCES.c.customer_id == bindparam("owner"),
    _ALLOWANCES.c.scope == bindparam("of_scope"),
)


def _opened(insert: Any) -> Insert:
    """The allowance's row, at nothing used, unless it exists."""
    return (
        insert(_ALLOWANCES)
        .values(  # type: ignore[no-any-return]
            customer_id=bindparam("owner"), scope=bindparam("of_scope"), used=0
        )
        .on_conflict_do_nothing(index_elements=[_ALLOWANCES.c.customer_id, _ALLOWANCES.c.scope])
    )


_OPEN = OnConflict(_opened)
_AMOUNT = bindparam("amount", type_=BigInteger)
_TAKE = (
    update(_ALLOWANCES)
    .where(*_OF, _ALLOWANCES.c.used + _AMOUNT <= bindparam("ceiling", type_=BigInteger))
    .values(used=_ALLOWANCES.c.used + _AMOUNT)
)
_GIVE_BACK = (
    update(_ALLOWANCES)
    .where(*_OF)
    .values(used=case((_ALLOWANCES.c.used > _AMOUNT, _ALLOWANCES.c.used - _AMOUNT), else_=0))
)
_USED = select(_ALLOWANCES.c.used).where(*_OF)


class AllowanceRepository(Repository):
    async def take(self, customer_id: int, scope: str, amount: int, limit: int) -> bool:
        """Take `amount` of the customer's allowance `scope` if `limit` is not passed by it;
        False (nothing taken) if it would be. Of any number of concurrent takes, exactly
        those that fit succeed: the check and the increment are one statement."""
        core = await self._core()
        params = {"owner": customer_id, "of_scope": scope, "amount": amount, "ceiling": limit}
        if await core.run(_TAKE, **params):
            return True  # the allowance has been used before: one statement
        # Its first use (or it is used up): the row exists once this returns, whoever made it.
        await core.run(_OPEN, owner=customer_id, of_scope=scope)
        return await core.run(_TAKE, **params) > 0

    async def give_back(self, customer_id: int, scope: str, amount: int) -> None:
        """Give back `amount` taken of `scope` (never below nothing)."""
        core = await self._core()
        await core.run(_GIVE_BACK, owner=customer_id, of_scope=scope, amount=amount)

    async def used(self, customer_id: int, scope: str) -> int:
        core = await self._core()
        return int(await core.value(_USED, owner=customer_id, of_scope=scope) or 0)
