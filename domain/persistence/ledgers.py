"""Statements on running counts and their ledgers (points and wallet balances with their
entries, offers' slots with their claims), shared by the repositories of orders and of
loyalty: completing an order grants its points and cash-back, and sending it to the carrier
takes its offers' slots, in the order's own unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Column, Integer, Table, Update, bindparam, case, update

from domain.persistence.core import CoreConnection, OnConflict, bound, prefixed
from domain.persistence.tables import (
    OfferClaimRow,
    OfferRow,
    PointsBalanceRow,
    PointsEntryRow,
    WalletEntryRow,
    WalletRow,
)
from domain.repositories import Cashback, PointsEarning

POINTS_BALANCES = cast(Table, PointsBalanceRow.__table__)
POINTS_ENTRIES = cast(Table, PointsEntryRow.__table__)
OFFERS = cast(Table, OfferRow.__table__)
CLAIMS = cast(Table, OfferClaimRow.__table__)
WALLETS = cast(Table, WalletRow.__table__)
WALLET_ENTRIES = cast(Table, WalletEntryRow.__table__)
HELD, GRANTED = "held", "granted"
CLAIM_COLUMNS = (
    "offer_id",
    "order_id",
    "customer_id",
    "cashback_fen",
    "red_packet_fen",
    "bonus_points",
    "discount_fen",
    "status",
    "at",
)


def balance_shift(balance: Column[int], owner: Column[int]) -> Update:
    """Add `delta` to the running balance of `owner` = `owner_id` unless it would go below
    zero: one conditional statement, so concurrent moves can never overdraw it."""
    delta = bindparam("delta", type_=Integer)
    return (
        update(balance.table)
        .where(owner == bindparam("owner_id"), balance + delta >= 0)
        .values({balance: balance + delta})
    )


POINTS_SHIFT = balance_shift(POINTS_BALANCES.c.points, POINTS_BALANCES.c.customer_id)
# Earning points that lapse at `lapses_at` also brings the customer's next lapse forward to it.
_NEXT_LAPSE = POINTS_BALANCES.c.next_lapse_at
_LAPSES_AT = bindparam("lapses_at", type_=POINTS_BALANCES.c.next_lapse_at.type)
POINTS_EARN_SHIFT = POINTS_SHIFT.values(
    next_lapse_at=case(
        (_NEXT_LAPSE.is_(None) | (_NEXT_LAPSE > _LAPSES_AT), _LAPSES_AT), else_=_NEXT_LAPSE
    )
)
POINTS_ENTRY_COLUMNS = (
    "customer_id",
    "points",
    "kind",
    "order_id",
    "idempotency_key",
    "note",
    "at",
    "expires_at",
)
POINTS_ENTRY = POINTS_ENTRIES.insert().values(bound(POINTS_ENTRY_COLUMNS))


def first_entry(entries: Table, columns: tuple[str, ...]) -> OnConflict:
    """A ledger entry unless one with its idempotency key exists; its id when inserted."""
    return OnConflict(
        lambda insert: (
            insert(entries)
            .values(bound(columns))
            .on_conflict_do_nothing(index_elements=[entries.c.idempotency_key])
            .returning(entries.c.id)
        )
    )


_FIRST_POINTS_ENTRY = first_entry(POINTS_ENTRIES, POINTS_ENTRY_COLUMNS)


async def earn_points_once(
    core: CoreConnection,
    customer_id: int,
    earning: PointsEarning,
    at: datetime,
    order_id: int | None = None,
) -> bool:
    """Earn with the entry keyed `earning.key`, unless that entry exists: False then, and
    nothing changes (a replay). A customer with no points balance cannot earn (ValueError):
    the entry must not stand alone, so the caller's transaction ends without it."""
    inserted = await core.run(
        _FIRST_POINTS_ENTRY,
        v_customer_id=customer_id,
        v_points=earning.points,
        v_kind="earn",
        v_order_id=order_id,
        v_idempotency_key=earning.key,
        v_note="",
        v_at=at,
        v_expires_at=earning.expires_at,
    )
    if not inserted:
        return False
    shifted = (
        await core.run(POINTS_SHIFT, owner_id=customer_id, delta=earning.points)
        if earning.expires_at is None
        else await core.run(
            POINTS_EARN_SHIFT,
            owner_id=customer_id,
            delta=earning.points,
            lapses_at=earning.expires_at,
        )
    )
    if not shifted:
        raise ValueError(f"customer {customer_id} has no points balance to earn into")
    return True


WALLET_SHIFT = balance_shift(WALLETS.c.balance_fen, WALLETS.c.customer_id)
WALLET_ENTRY_COLUMNS = (
    "customer_id",
    "amount_fen",
    "currency",
    "kind",
    "order_id",
    "idempotency_key",
    "at",
)
WALLET_ENTRY = WALLET_ENTRIES.insert().values(bound(WALLET_ENTRY_COLUMNS))
_FIRST_WALLET_ENTRY = first_entry(WALLET_ENTRIES, WALLET_ENTRY_COLUMNS)


async def credit_wallet_once(
    core: CoreConnection,
    customer_id: int,
    cashback: Cashback,
    at: datetime,
    order_id: int | None = None,
) -> bool:
    """Credit the cash-back with its entry keyed `cashback.key`, unless that entry exists:
    False then, and nothing changes (a replay; a concurrent credit with the same key waits for
    the first one's commit and then finds its entry). A customer with no wallet cannot be
    credited (ValueError): the entry must not stand alone, so the caller's transaction ends
    without it."""
    amount, currency = cashback.amount_fen, cashback.currency
    inserted = await core.run(
        _FIRST_WALLET_ENTRY,
        **wallet_entry(customer_id, amount, currency, "cashback", cashback.key, at, order_id),
    )
    if not inserted:
        return False
    if not await core.run(WALLET_SHIFT, owner_id=customer_id, delta=amount):
        raise ValueError(f"customer {customer_id} has no wallet to credit")
    return True


def wallet_entry(
    customer_id: int,
    amount_fen: int,
    currency: str,
    kind: str,
    key: str,
    at: datetime,
    order_id: int | None,
) -> dict[str, object]:
    """The parameters of a wallet entry's insert (`WALLET_ENTRY` and the credit above)."""
    return prefixed(
        {
            "customer_id": customer_id,
            "amount_fen": amount_fen,
            "currency": currency,
            "kind": kind,
            "order_id": order_id,
            "idempotency_key": key,
            "at": at,
        }
    )
