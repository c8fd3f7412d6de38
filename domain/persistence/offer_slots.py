"""An offer's slots and budget, counted in `OFFER_SLOT_SHARDS` rows (`offer_slots`) instead of
one: never committed here.

Why: every claim of an offer took its slot by updating the offer's one row, and on PostgreSQL
that row stays locked until the claim's transaction has committed (its WAL flushed), so all the
claims of an offer ran one after the other, at one commit's latency each (159 to 305 claims/s
measured, `tests/bench/loyalty_throughput.py`). Split in shards, claims at once lock different
rows and their commits are flushed together.

Exactness: each shard holds a share of the quota (and of the budget) and is taken by one
conditional update within its share; the shares add up to the offer's quota, so the offer's
quota is never exceeded. A claim starts at a shard picked at random and takes the first shard
in turn that has room, so a claim is refused only when no shard has room: exactly the quota
is given out. A budget is not split (a claim's cash-back must fit in one share whole): an offer
with a budget keeps all of its quota and budget in shard 0, and its claims still take their turn
on that one row. The same statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, bindparam, func, select, update
from sqlalchemy.orm import aliased

from domain.persistence.core import CoreConnection, OnConflict
from domain.persistence.tables import OfferRow, OfferSlotRow

OFFER_SLOT_SHARDS = 8

_SLOTS = cast(Table, OfferSlotRow.__table__)
_OFFERS = cast(Table, OfferRow.__table__)
_CASHBACK = bindparam("cashback_fen", type_=Integer)


def _room(table: Any) -> ColumnElement[bool]:
    """The shard has a slot left, and room in its budget share for the claim's cash-back."""
    return (table.c.quota.is_(None) | (table.c.used < table.c.quota)) & (
        table.c.budget_fen.is_(None) | (table.c.spent_fen + _CASHBACK <= table.c.budget_fen)
    )


_OTHER = aliased(_SLOTS)
# The first shard with room, from `start` on in turn (shard numbers wrap around).
_FIRST_WITH_ROOM = (
    select(_OTHER.c.shard)
    .where(_OTHER.c.offer_id == bindparam("of_offer"), _room(_OTHER))
    .order_by((_OTHER.c.shard + OFFER_SLOT_SHARDS - bindparam("start")) % OFFER_SLOT_SHARDS)
    .limit(1)
    .scalar_subquery()
)
_TAKE = (
    update(_SLOTS)
    .where(
        _SLOTS.c.offer_id == bindparam("of_offer"),
        _SLOTS.c.shard == _FIRST_WITH_ROOM,
        _room(_SLOTS),  # checked again on the row as it is when its lock is had
    )
    .values(used=_SLOTS.c.used + 1, spent_fen=_SLOTS.c.spent_fen + _CASHBACK)
    .returning(_SLOTS.c.shard)
)
_STATE = select(
    func.count().label("shards"), func.max(_room(_SLOTS).cast(Integer)).label("room")
).where(_SLOTS.c.offer_id == bindparam("of_offer"))
# A slot is given back to a shard that has one taken, from `start` on in turn.
_FIRST_TAKEN = (
    select(_OTHER.c.shard)
    .where(_OTHER.c.offer_id == bindparam("of_offer"), _OTHER.c.used > 0)
    .order_by((_OTHER.c.shard + OFFER_SLOT_SHARDS - bindparam("start")) % OFFER_SLOT_SHARDS)
    .limit(1)
    .scalar_subquery()
)
_GIVE_BACK = (
    update(_SLOTS)
    .where(
        _SLOTS.c.offer_id == bindparam("of_offer"),
        _SLOTS.c.shard == _FIRST_TAKEN,
        _SLOTS.c.used > 0,
    )
    .values(used=_SLOTS.c.used - 1, spent_fen=_SLOTS.c.spent_fen - _CASHBACK)
    .returning(_SLOTS.c.shard)
)
_ANY_TAKEN = select(func.count()).where(
    _SLOTS.c.offer_id == bindparam("of_offer"), _SLOTS.c.used > 0
)
_LIMITS = select(_OFFERS.c.quota, _OFFERS.c.budget_fen).where(_OFFERS.c.id == bindparam("of_offer"))
_SHARDS_OF = (
    select(_SLOTS.c.shard, _SLOTS.c.used, _SLOTS.c.spent_fen)
    .where(_SLOTS.c.offer_id == bindparam("of_offer"))
    .order_by(_SLOTS.c.shard)
    .with_for_update()
)
_SET_SHARES = (
    update(_SLOTS)
    .where(_SLOTS.c.offer_id == bindparam("of_offer"), _SLOTS.c.shard == bindparam("of_shard"))
    .values(quota=bindparam("v_quota"), budget_fen=bindparam("v_budget_fen"))
)


def shares(
    quota: int | None, budget_fen: int | None, used: Sequence[int], spent: Sequence[int]
) -> list[tuple[int | None, int | None]]:
    """Each shard's (quota, budget) share, for shards that have taken `used` slots and spent
    `spent` already: every share at least what its shard took, adding up to the offer's quota
    and budget. Without a budget, what is left of the quota is spread evenly; with one, it all
    goes to shard 0 (a claim's cash-back must fit in one share)."""
    count = len(used)
    if quota is None:
        quotas: list[int | None] = [None] * count
    elif budget_fen is None:
        left = max(quota - sum(used), 0)
        quotas = [used[n] + left // count + (n < left % count) for n in range(count)]
    else:
        quotas = [max(quota - sum(used[1:]), used[0]), *used[1:]]
    budgets: list[int | None] = (
        [None] * count
        if budget_fen is None
        else [max(budget_fen - sum(spent[1:]), spent[0]), *spent[1:]]
    )
    return list(zip(quotas, budgets, strict=True))


def _opened(offer_id: int, quota: int | None, budget_fen: int | None) -> OnConflict:
    nothing = [0] * OFFER_SLOT_SHARDS
    rows = [
        {
            "offer_id": offer_id,
            "shard": shard,
            "quota": share,
            "used": 0,
            "budget_fen": budget,
            "spent_fen": 0,
        }
        for shard, (share, budget) in enumerate(shares(quota, budget_fen, nothing, nothing))
    ]
    return OnConflict(
        lambda insert: (
            insert(_SLOTS)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[_SLOTS.c.offer_id, _SLOTS.c.shard])
        )
    )


async def take(core: CoreConnection, offer_id: int, cashback_fen: int) -> int | None:
    """Take one slot of the offer (and `cashback_fen` of its budget) if any is left: the shard
    it was taken from; None, with nothing taken, if none is left. One statement when a shard
    has room; a shard that filled up between the pick and the update is followed by the next
    (at most once per shard, while nothing is given back). The offer's shards are made by its
    first claim."""
    params = {"of_offer": offer_id, "cashback_fen": cashback_fen}
    for _ in range(OFFER_SLOT_SHARDS + 2):
        shard = await core.value(_TAKE, **params, start=random.randrange(OFFER_SLOT_SHARDS))
        if shard is not None:
            return int(shard)
        state = await core.row(_STATE, **params)
        if state is not None and state.shards == 0:
            limits = await core.row(_LIMITS, of_offer=offer_id)
            if limits is None:
                return None
            await core.run(_opened(offer_id, limits.quota, limits.budget_fen))
        elif state is None or not state.room:
            return None
    return None


async def give_back(
    core: CoreConnection, offer_id: int, cashback_fen: int, shard: int | None = None
) -> None:
    """Give back one slot of the offer and `cashback_fen` of its budget: to `shard` when it
    has one taken (the shard a claim of this transaction took), else to another that has. A
    shard emptied by another give-back between the pick and the update is followed by the next.
    """
    start = random.randrange(OFFER_SLOT_SHARDS) if shard is None else shard
    params = {"of_offer": offer_id, "cashback_fen": cashback_fen, "start": start}
    for _ in range(OFFER_SLOT_SHARDS + 1):
        if await core.run(_GIVE_BACK, **params) or not await core.value(_ANY_TAKEN, **params):
            return


async def share_out(
    core: CoreConnection, offer_id: int, quota: int | None, budget_fen: int | None
) -> None:
    """After the offer's quota or budget changed: its shards' shares again, each at least what
    its shard took (the shards are locked while this is done). Nothing when no claim has made
    them yet (the first one makes them with the offer's limits as they are then)."""
    rows = await core.rows(_SHARDS_OF, of_offer=offer_id)
    if not rows:
        return
    new = shares(quota, budget_fen, [r.used for r in rows], [r.spent_fen for r in rows])
    for row, (share, budget) in zip(rows, new, strict=True):
        await core.run(
            _SET_SHARES, of_offer=offer_id, of_shard=row.shard, v_quota=share, v_budget_fen=budget
        )


# The offer's columns with its slots used and budget spent, for reading it in Core.
OFFER_COLUMNS = (
    *(c for c in _OFFERS.c if not c.name.endswith("_unsharded")),
    OfferRow.used.expression.label("used"),
    OfferRow.spent_fen.expression.label("spent_fen"),
)
