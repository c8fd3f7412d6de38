"""Statements on running counts and their ledgers (points and wallet balances with their
entries, offers' slots with their claims), shared by the repositories of orders and of loyalty:
an order's move may take its offers' slots, or grant its points and cash-back, in the same
statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    Table,
    Update,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.selectable import CTE

from domain.persistence.driver import Driver, Statement
from domain.persistence.tables import (
    OfferClaimRow,
    OfferRow,
    PointsBalanceRow,
    PointsEntryRow,
    WalletEntryRow,
    WalletRow,
)

POINTS_BALANCES = cast(Table, PointsBalanceRow.__table__)
POINTS_ENTRIES = cast(Table, PointsEntryRow.__table__)
OFFERS = cast(Table, OfferRow.__table__)
CLAIMS = cast(Table, OfferClaimRow.__table__)
WALLETS = cast(Table, WalletRow.__table__)
WALLET_ENTRIES = cast(Table, WalletEntryRow.__table__)
HELD, GRANTED = "held", "granted"
CLAIM_COLUMNS = ("offer_id", "order_id", "customer_id", "cashback_fen", "status", "at")


def take_slot(prefix: str = "", *guards: ColumnElement[bool]) -> Update:
    """Take one slot of the offer `<prefix>offer_id` (and `<prefix>cashback_fen` of its
    budget) if any is left: one conditional statement, so however many take at once, the
    quota and the budget are never exceeded. Returns the offer's id when taken."""
    cashback = bindparam(f"{prefix}cashback_fen", type_=Integer)
    return (
        update(OFFERS)
        .where(
            OFFERS.c.id == bindparam(f"{prefix}offer_id"),
            OFFERS.c.quota.is_(None) | (OFFERS.c.used < OFFERS.c.quota),
            OFFERS.c.budget_fen.is_(None) | (OFFERS.c.spent_fen + cashback <= OFFERS.c.budget_fen),
            *guards,
        )
        .values(used=OFFERS.c.used + 1, spent_fen=OFFERS.c.spent_fen + cashback)
        .returning(OFFERS.c.id)
    )


def claim_of_taken(taken: CTE, prefix: str = "", status: Any = None) -> Any:
    """The claim row for the slot `taken` took: for `order_id` and `customer_id`, with
    `<prefix>cashback_fen`, at `at` (status `status`, or the parameter `status`)."""
    return (
        insert(CLAIMS)
        .from_select(
            list(CLAIM_COLUMNS),
            select(
                taken.c.id,
                bindparam("order_id"),
                bindparam("customer_id"),
                bindparam(f"{prefix}cashback_fen", type_=Integer),
                status if status is not None else bindparam("status"),
                bindparam("at", type_=CLAIMS.c.at.type),
            ),
        )
        .returning(CLAIMS.c.id)
    )


@dataclass(frozen=True)
class SlotClaim:
    """A slot of an offer that a customer's order takes, with the cash-back it spends of the
    offer's budget."""

    offer_id: int
    customer_id: int
    cashback_fen: int = 0


def slot_claims_ctes(count: int, *guards: ColumnElement[bool]) -> list[CTE]:
    """PostgreSQL: `count` slots taken and claimed (held) while `guards` hold, the i-th for
    `c<i>_offer_id` and `c<i>_cashback_fen`; each CTE returns a row per claim made."""
    claims: list[CTE] = []
    for index in range(count):
        taken = take_slot(f"c{index}_", *guards).cte(f"taken_{index}")
        claims.append(claim_of_taken(taken, f"c{index}_", literal(HELD)).cte(f"claim_{index}"))
    return claims


def slot_claims_params(claims: Sequence[SlotClaim], at: datetime) -> dict[str, Any]:
    """The parameters of `slot_claims_ctes(len(claims))`, the claims all of one customer."""
    params: dict[str, Any] = {"customer_id": claims[0].customer_id, "at": at}
    for index, claim in enumerate(claims):
        params[f"c{index}_offer_id"] = claim.offer_id
        params[f"c{index}_cashback_fen"] = claim.cashback_fen
    return params


def balance_shift(balance: Column[int], owner: Column[int]) -> Statement:
    """Add `delta` to the running balance of `owner` = `owner_id` unless it would go below
    zero: one conditional statement, so concurrent moves can never overdraw it."""
    delta = bindparam("delta", type_=Integer)
    return Statement(
        update(balance.table)
        .where(owner == bindparam("owner_id"), balance + delta >= 0)
        .values({balance: balance + delta})
    )


POINTS_SHIFT = balance_shift(POINTS_BALANCES.c.points, POINTS_BALANCES.c.customer_id)
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
POINTS_ENTRY = Statement(
    POINTS_ENTRIES.insert().values({name: bindparam(f"v_{name}") for name in POINTS_ENTRY_COLUMNS})
)


@dataclass(frozen=True)
class PointsEarning:
    """Points (> 0) a customer earns, as one ledger entry keyed `key` that lapses at
    `expires_at`."""

    points: int
    key: str
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.points <= 0:
            raise ValueError(f"cannot earn {self.points} points")


def _entry_and_balance(
    entries: Table,
    columns: list[str],
    values: Any,
    amount: str,
    balance: Column[int],
    owner: Column[int],
    name: str,
) -> tuple[CTE, CTE]:
    """PostgreSQL: an entry of the ledger `entries` from `values` unless its idempotency key
    exists, and the running `balance` of its customer moved by its `amount`."""
    entry = (
        postgresql_insert(entries)
        .from_select(columns, values)
        .on_conflict_do_nothing(index_elements=[entries.c.idempotency_key])
        .returning(entries.c.customer_id, entries.c[amount])
        .cte(f"{name}_entry")
    )
    moved = (
        update(balance.table)
        .where(owner == entry.c.customer_id)
        .values({balance: balance + entry.c[amount]})
        .returning(owner)
        .cte(f"{name}_balance")
    )
    return entry, moved


def earning_ctes(source: Any, customer_id: Any, order_id: Any) -> tuple[CTE, CTE]:
    """PostgreSQL: the entry of the earning bound as `e_points`, `e_key`, `e_expires_at` (at
    `v_at`) for each row of `source`, unless its key exists, and the balance moved by it."""
    values = select(
        customer_id,
        bindparam("e_points", type_=Integer),
        literal("earn"),
        order_id,
        bindparam("e_key", type_=POINTS_ENTRIES.c.idempotency_key.type),
        literal(""),
        bindparam("v_at", type_=POINTS_ENTRIES.c.at.type),
        bindparam("e_expires_at", type_=POINTS_ENTRIES.c.expires_at.type),
    ).select_from(source)
    return _entry_and_balance(
        POINTS_ENTRIES,
        list(POINTS_ENTRY_COLUMNS),
        values,
        "points",
        POINTS_BALANCES.c.points,
        POINTS_BALANCES.c.customer_id,
        "points",
    )


def earning_params(earning: PointsEarning, at: datetime) -> dict[str, Any]:
    """The parameters of `earning_ctes` for this earning, at `at`."""
    return {
        "e_points": earning.points,
        "e_key": earning.key,
        "e_expires_at": earning.expires_at,
        "v_at": at,
    }


def _first_entry_sqlite() -> Statement:
    """Insert a points entry unless one with its key exists; its id when inserted."""
    return Statement(
        sqlite_insert(POINTS_ENTRIES)
        .values({name: bindparam(f"v_{name}") for name in POINTS_ENTRY_COLUMNS})
        .on_conflict_do_nothing(index_elements=[POINTS_ENTRIES.c.idempotency_key])
        .returning(POINTS_ENTRIES.c.id)
    )


@dataclass(frozen=True)
class Cashback:
    """Cash-back (> 0) into a customer's wallet, as one wallet ledger entry keyed `key`."""

    amount_fen: int
    currency: str
    key: str

    def __post_init__(self) -> None:
        if self.amount_fen <= 0:
            raise ValueError(f"cannot pay {self.amount_fen} fen of cash-back")


def cashback_ctes(source: Any, customer_id: Any, order_id: Any) -> tuple[CTE, CTE]:
    """PostgreSQL: the wallet entry of the cash-back bound as `w_amount_fen`, `w_currency`,
    `w_key` (at `v_at`) for each row of `source`, unless its key exists, and the wallet's
    balance moved by it."""
    values = select(
        customer_id,
        bindparam("w_amount_fen", type_=Integer),
        bindparam("w_currency", type_=WALLET_ENTRIES.c.currency.type),
        literal("cashback"),
        order_id,
        bindparam("w_key", type_=WALLET_ENTRIES.c.idempotency_key.type),
        bindparam("v_at", type_=WALLET_ENTRIES.c.at.type),
    ).select_from(source)
    columns = ["customer_id", "amount_fen", "currency", "kind", "order_id", "idempotency_key", "at"]
    return _entry_and_balance(
        WALLET_ENTRIES,
        columns,
        values,
        "amount_fen",
        WALLETS.c.balance_fen,
        WALLETS.c.customer_id,
        "cashback",
    )


@dataclass(frozen=True)
class Grant:
    """What completing an order grants: its points, its cash-back, and the slots it holds
    granted (`claims`)."""

    earning: PointsEarning | None = None
    cashback: Cashback | None = None
    claims: bool = False

    def keys(self) -> tuple[str, ...]:
        """Which parts there are, as the keys of the statements that grant them."""
        parts = ("points", self.earning), ("cashback", self.cashback), ("claims", self.claims)
        return tuple(name for name, part in parts if part)

    def params(self, at: datetime) -> dict[str, Any]:
        """The parameters of `grant_ctes` for this grant, at `at`."""
        params: dict[str, Any] = {"v_at": at}
        if self.earning is not None:
            params |= earning_params(self.earning, at)
        if self.cashback is not None:
            params |= {
                "w_amount_fen": self.cashback.amount_fen,
                "w_currency": self.cashback.currency,
                "w_key": self.cashback.key,
            }
        return params


def grant_ctes(keys: tuple[str, ...], source: Any, customer_id: Any, order_id: Any) -> list[CTE]:
    """PostgreSQL: the parts `keys` of a grant (`Grant.keys`) for each row of `source`."""
    ctes: list[CTE] = []
    if "points" in keys:
        ctes.extend(earning_ctes(source, customer_id, order_id))
    if "cashback" in keys:
        ctes.extend(cashback_ctes(source, customer_id, order_id))
    if "claims" in keys:
        granted = (
            update(CLAIMS)
            .where(CLAIMS.c.order_id == select(order_id).select_from(source).scalar_subquery())
            .where(CLAIMS.c.status == HELD)
            .values(status=GRANTED)
        )
        ctes.append(granted.cte("granted"))
    return ctes


def grant_guards(keys: tuple[str, ...], customer_id: Any) -> list[ColumnElement[bool]]:
    """The customer has the points balance and the wallet the parts `keys` move."""
    guards: list[ColumnElement[bool]] = []
    if "points" in keys:
        guards.append(exists().where(POINTS_BALANCES.c.customer_id == customer_id))
    if "cashback" in keys:
        guards.append(exists().where(WALLETS.c.customer_id == customer_id))
    return guards


def _earn_once_postgresql() -> Statement:
    """PostgreSQL: the entry unless its key exists, and the balance moved by it, in one
    statement; how many entries went in (`earned`) and balances moved (`shifted`)."""
    customer = bindparam("customer_id", type_=Integer)
    order = bindparam("order_id", type_=POINTS_ENTRIES.c.order_id.type)
    entry, shifted = earning_ctes(select(literal(1)).subquery("one"), customer, order)
    return Statement(
        select(
            select(func.count()).select_from(entry).scalar_subquery().label("earned"),
            select(func.count()).select_from(shifted).scalar_subquery().label("shifted"),
        )
    )


_EARN_ONCE = {"postgresql": _earn_once_postgresql(), "sqlite": _first_entry_sqlite()}


async def earn_points_once(
    driver: Driver,
    customer_id: int,
    earning: PointsEarning,
    at: datetime,
    order_id: int | None = None,
) -> bool:
    """Earn with the entry keyed `earning.key`, unless that entry exists: False then, and
    nothing changes (a replay). A customer with no points balance cannot earn (ValueError):
    the entry must not stand alone, so the caller's transaction ends without it."""
    params = earning_params(earning, at) | {"customer_id": customer_id, "order_id": order_id}
    if driver.dialect.name == "postgresql":
        counts = await driver.row(_EARN_ONCE["postgresql"], **params)
        assert counts is not None  # two counts, always one row
        inserted, shifted = counts.earned, counts.shifted
    else:
        inserted = await driver.run(
            _EARN_ONCE["sqlite"],
            v_customer_id=customer_id,
            v_points=earning.points,
            v_kind="earn",
            v_order_id=order_id,
            v_idempotency_key=earning.key,
            v_note="",
            v_at=at,
            v_expires_at=earning.expires_at,
        )
        shifted = inserted and await driver.run(
            POINTS_SHIFT, owner_id=customer_id, delta=earning.points
        )
    if not inserted:
        return False
    if not shifted:
        raise ValueError(f"customer {customer_id} has no points balance to earn into")
    return True
