"""Counts kept per (owner, scope) row, taken within a ceiling by one conditional statement and
given back when what took them is undone: the customers' allowances and the phone numbers' risk
counts. Never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Insert, Table, bindparam, case, select, union_all, update

from domain.allowances import Take
from domain.persistence.core import CoreConnection, OnConflict

_AMOUNT = bindparam("amount", type_=BigInteger)


class CappedCounts:
    """The statements over `table`, whose row per (`owner`, scope) holds a `used` count."""

    def __init__(self, table: Table, owner: str) -> None:
        self._table, self._owner = table, owner
        of = (table.c[owner] == bindparam("owner"), table.c.scope == bindparam("of_scope"))
        # The statement that takes n counts at once, made on first use of each n.
        self._takes: dict[int, OnConflict] = {}
        self._give_back = (
            update(table)
            .where(*of)
            .values(used=case((table.c.used > _AMOUNT, table.c.used - _AMOUNT), else_=0))
        )
        self._used = select(table.c.used).where(*of)

    def _taking(self, count: int) -> OnConflict:
        """For each of `count` counts: its row, at `amount` used, if `amount` is within its
        ceiling; or, where the row exists, `amount` more on it if the sum stays within the
        ceiling. The check and the increment one statement, whether or not the count was used
        before; the scopes it took are returned."""
        table, owner = self._table, self._owner
        scopes = [bindparam(f"scope_{n}", type_=table.c.scope.type) for n in range(count)]
        amounts = [bindparam(f"amount_{n}", type_=BigInteger) for n in range(count)]
        ceilings = [bindparam(f"ceiling_{n}", type_=BigInteger) for n in range(count)]
        holder = bindparam("owner", type_=table.c[owner].type)
        # The WHERE also lets SQLite parse the upsert.
        fresh = [
            select(holder, scope, amount).where(amount <= ceiling)
            for scope, amount, ceiling in zip(scopes, amounts, ceilings, strict=True)
        ]

        def taking(insert: Any) -> Insert:
            statement = insert(table).from_select(
                [owner, "scope", "used"], union_all(*fresh) if count > 1 else fresh[0]
            )
            more = table.c.used + statement.excluded.used
            ceiling = case(
                *((statement.excluded.scope == s, c) for s, c in zip(scopes, ceilings, strict=True))
            )
            return statement.on_conflict_do_update(  # type: ignore[no-any-return]
                index_elements=[table.c[owner], table.c.scope],
                set_={"used": more},
                where=more <= ceiling,
            ).returning(table.c.scope)

        return OnConflict(taking)

    async def take(
        self, core: CoreConnection, owner: object, scope: str, amount: int, limit: int
    ) -> bool:
        """Take `amount` of the count `scope` if `limit` is not passed by it; False (nothing
        taken, and no row made for a count never used) if it would be. Of any number of
        concurrent takes, exactly those that fit succeed: one statement, on its first use as on
        any other (a concurrent first use waits on the row the other one inserts, then adds to
        it within the limit)."""
        return scope in await self.take_each(core, owner, [Take(scope, amount, limit)])

    async def take_each(
        self, core: CoreConnection, owner: object, takes: Sequence[Take]
    ) -> set[str]:
        """Each of `takes` taken as `take` would, independently of the others, all in one
        statement; the scopes taken. The scopes are distinct."""
        if not takes:
            return set()
        if len({t.scope for t in takes}) != len(takes):
            raise ValueError("one scope taken twice in one statement")
        statement = self._takes.get(len(takes))
        if statement is None:
            statement = self._takes[len(takes)] = self._taking(len(takes))
        params: dict[str, object] = {"owner": owner}
        for n, t in enumerate(takes):
            params |= {f"scope_{n}": t.scope, f"amount_{n}": t.amount, f"ceiling_{n}": t.limit}
        return {row.scope for row in await core.rows(statement, **params)}

    async def give_back(self, core: CoreConnection, owner: object, scope: str, amount: int) -> None:
        """Give back `amount` taken of `scope` (never below nothing)."""
        await core.run(self._give_back, owner=owner, of_scope=scope, amount=amount)

    async def used(self, core: CoreConnection, owner: object, scope: str) -> int:
        return int(await core.value(self._used, owner=owner, of_scope=scope) or 0)
