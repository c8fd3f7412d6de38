"""Counts kept per (owner, scope) row, taken within a ceiling by one conditional statement and
given back when what took them is undone: the customers' allowances and the phone numbers' risk
counts. Never committed here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Insert, Table, bindparam, case, select, update

from domain.persistence.core import CoreConnection, OnConflict

_AMOUNT = bindparam("amount", type_=BigInteger)


class CappedCounts:
    """The statements over `table`, whose row per (`owner`, scope) holds a `used` count."""

    def __init__(self, table: Table, owner: str) -> None:
        of = (table.c[owner] == bindparam("owner"), table.c.scope == bindparam("of_scope"))

        def opened(insert: Any) -> Insert:
            """The count's row, at nothing used, unless it exists."""
            return (
                insert(table)
                .values(  # type: ignore[no-any-return]
                    {owner: bindparam("owner"), "scope": bindparam("of_scope"), "used": 0}
                )
                .on_conflict_do_nothing(index_elements=[table.c[owner], table.c.scope])
            )

        self._open = OnConflict(opened)
        self._take = (
            update(table)
            .where(*of, table.c.used + _AMOUNT <= bindparam("ceiling", type_=BigInteger))
            .values(used=table.c.used + _AMOUNT)
        )
        self._give_back = (
            update(table)
            .where(*of)
            .values(used=case((table.c.used > _AMOUNT, table.c.used - _AMOUNT), else_=0))
        )
        self._used = select(table.c.used).where(*of)

    async def take(
        self, core: CoreConnection, owner: object, scope: str, amount: int, limit: int
    ) -> bool:
        """Take `amount` of the count `scope` if `limit` is not passed by it; False (nothing
        taken) if it would be. Of any number of concurrent takes, exactly those that fit
        succeed: the check and the increment are one statement."""
        params = {"owner": owner, "of_scope": scope, "amount": amount, "ceiling": limit}
        if await core.run(self._take, **params):
            return True  # the count has been used before: one statement
        # Its first use (or it is used up): the row exists once this returns, whoever made it.
        await core.run(self._open, owner=owner, of_scope=scope)
        return await core.run(self._take, **params) > 0

    async def give_back(self, core: CoreConnection, owner: object, scope: str, amount: int) -> None:
        """Give back `amount` taken of `scope` (never below nothing)."""
        await core.run(self._give_back, owner=owner, of_scope=scope, amount=amount)

    async def used(self, core: CoreConnection, owner: object, scope: str) -> int:
        return int(await core.value(self._used, owner=owner, of_scope=scope) or 0)
