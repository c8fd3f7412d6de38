"""Counts kept per (owner, scope) row, taken within a ceiling by one conditional statement and
given back when what took them is undone: the customers' allowances and the phone numbers' risk
counts. Never committed here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Insert, Table, bindparam, case, select, update

from domain.persistence.core import CoreConnection, OnConflict

_AMOUNT = bindparam("amount", type_=BigInteger)
_CEILING = bindparam("ceiling", type_=BigInteger)


class CappedCounts:
    """The statements over `table`, whose row per (`owner`, scope) holds a `used` count."""

    def __init__(self, table: Table, owner: str) -> None:
        of = (table.c[owner] == bindparam("owner"), table.c.scope == bindparam("of_scope"))

        def taking(insert: Any) -> Insert:
            """The count's row, at `amount` used, if `amount` is within the ceiling; or, where
            the row exists, `amount` more on it if the sum stays within the ceiling: the check
            and the increment one statement, whether or not the count was used before."""
            fresh = select(
                bindparam("owner", type_=table.c[owner].type),
                bindparam("of_scope", type_=table.c.scope.type),
                _AMOUNT,
            ).where(_AMOUNT <= _CEILING)  # also what lets SQLite parse the upsert
            statement = insert(table).from_select([owner, "scope", "used"], fresh)
            more = table.c.used + statement.excluded.used
            return statement.on_conflict_do_update(  # type: ignore[no-any-return]
                index_elements=[table.c[owner], table.c.scope],
                set_={"used": more},
                where=more <= _CEILING,
            )

        self._take = OnConflict(taking)
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
        taken, and no row made for a count never used) if it would be. Of any number of
        concurrent takes, exactly those that fit succeed: one statement, on its first use as on
        any other (a concurrent first use waits on the row the other one inserts, then adds to
        it within the limit)."""
        params = {"owner": owner, "of_scope": scope, "amount": amount, "ceiling": limit}
        return await core.run(self._take, **params) > 0

    async def give_back(self, core: CoreConnection, owner: object, scope: str, amount: int) -> None:
        """Give back `amount` taken of `scope` (never below nothing)."""
        await core.run(self._give_back, owner=owner, of_scope=scope, amount=amount)

    async def used(self, core: CoreConnection, owner: object, scope: str) -> int:
        return int(await core.value(self._used, owner=owner, of_scope=scope) or 0)
