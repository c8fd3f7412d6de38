"""Repositories: queries over one session. They never commit; the unit of work does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from domain.allowances import daily_scope
from domain.money import Money
from domain.orders import COUNTS_TOWARDS_LIMIT, LimitExceeded, OrderStatus
from domain.persistence.allowance_repository import AllowanceRepository
from domain.persistence.consent_tables import PrivacyConsentRow
from domain.persistence.core import (
    CoreConnection,
    OnConflict,
    Repository,
    RowInserter,
    StatementsByKeys,
    bound,
    prefixed,
)
from domain.persistence.ledgers import (
    WALLET_ENTRY,
    WALLET_SHIFT,
    credit_wallet_once,
    earn_points_once,
    wallet_entry,
)
from domain.persistence.loyalty_repositories import OfferClaimRepository
from domain.persistence.pin_tables import CustomerPinRow
from domain.persistence.tables import (
    ConversationRow,
    CustomerRow,
    OrderEventRow,
    OrderRow,
    PaymentRow,
    PhoneBindingRow,
    ProductRow,
    WalletEntryRow,
    WalletRow,
)
from domain.repositories import (
    ConversationRecord,
    CustomerRecord,
    Grant,
    NewCustomer,
    NewOrder,
    NewPayment,
    OrderChange,
    OrderEventRecord,
    OrderRecord,
    PaymentRecord,
    PhoneBindingRecord,
    ProductRecord,
    SlotClaim,
    TurnRecord,
    WalletEntryRecord,
)

_CUSTOMERS = cast(Table, CustomerRow.__table__)
_CONVERSATIONS = cast(Table, ConversationRow.__table__)
_CONSENTS = cast(Table, PrivacyConsentRow.__table__)
_PINS = cast(Table, CustomerPinRow.__table__)

# The statement of every turn, built once: a customer, their conversation in one chat and
# whether they agreed to the privacy notice (asked before a number is kept: /start, binding,
# recharging) and whether they set a payment PIN (a payment without one asks nothing more).
# Core, not ORM loading: it is read on every update and only copied into plain rows.
_TURN = (
    select(
        _CUSTOMERS.c.id,
        _CUSTOMERS.c.telegram_id,
        _CUSTOMERS.c.first_name,
        _CUSTOMERS.c.last_name,
        _CUSTOMERS.c.username,
        _CUSTOMERS.c.language,
        _CUSTOMERS.c.registered_at,
        _CUSTOMERS.c.last_seen_at,
        _CONVERSATIONS.c.id.label("conversation_id"),
        _CONVERSATIONS.c.step,
        _CONVERSATIONS.c.data,
        _CONSENTS.c.customer_id.is_not(None).label("consented"),
        _PINS.c.customer_id.is_not(None).label("pin_set"),
    )
    .select_from(
        _CUSTOMERS.outerjoin(
            _CONVERSATIONS,
            and_(
                _CONVERSATIONS.c.telegram_id == _CUSTOMERS.c.telegram_id,
                _CONVERSATIONS.c.chat_id == bindparam("chat_id"),
            ),
        )
        .outerjoin(_CONSENTS, _CONSENTS.c.customer_id == _CUSTOMERS.c.id)
        .outerjoin(_PINS, _PINS.c.customer_id == _CUSTOMERS.c.id)
    )
    .where(_CUSTOMERS.c.telegram_id == bindparam("telegram_id"))
)


def _state_upsert(insert: Any) -> Insert:
    """Insert a chat's conversation state or replace it, with bound parameters."""
    statement = insert(_CONVERSATIONS).values(
        chat_id=bindparam("chat_id"),
        telegram_id=bindparam("telegram_id"),
        step=bindparam("step"),
        data=bindparam("data", type_=_CONVERSATIONS.c.data.type),
        updated_at=bindparam("updated_at", type_=_CONVERSATIONS.c.updated_at.type),
    )
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[_CONVERSATIONS.c.chat_id, _CONVERSATIONS.c.telegram_id],
        set_={
            "step": statement.excluded.step,
            "data": statement.excluded.data,
            "updated_at": statement.excluded.updated_at,
        },
    )


_STATE_UPSERT = OnConflict(_state_upsert)


_CUSTOMER = tuple(f.name for f in fields(CustomerRecord))
_TURN_FIELDS = tuple(f.name for f in fields(TurnRecord))
_PHONE = tuple(f.name for f in fields(PhoneBindingRecord))
_PHONES = cast(Table, PhoneBindingRow.__table__)
# A new bound number of a customer who is there and not erased, returned as kept; nothing
# (no row) for anyone else. The check and the insert are one statement.
_BINDING = ("customer_id", "digits", "carrier", "bound_at", "verified")
_BIND = (
    insert(_PHONES)
    .from_select(
        list(_BINDING),
        select(*(bindparam(name, type_=_PHONES.c[name].type) for name in _BINDING)).where(
            select(_CUSTOMERS.c.id)
            .where(
                _CUSTOMERS.c.id == bindparam("customer_id"),
                _CUSTOMERS.c.erased_at.is_(None),
            )
            .exists()
        ),
    )
    .returning(*(_PHONES.c[name] for name in _PHONE))
)


# A customer's row, by id or by Telegram id (Core: read on most orders and bindings).
_CUSTOMER_ROW = select(*(_CUSTOMERS.c[name] for name in _CUSTOMER))
_CUSTOMER_BY_ID = _CUSTOMER_ROW.where(_CUSTOMERS.c.id == bindparam("customer_id"))
_CUSTOMER_BY_TELEGRAM_ID = _CUSTOMER_ROW.where(_CUSTOMERS.c.telegram_id == bindparam("telegram_id"))
# A new customer, returned as kept (a first contact writes without reading anything again).
_REGISTER = (
    insert(_CUSTOMERS)
    .values(
        bound(
            (
                "telegram_id",
                "first_name",
                "last_name",
                "username",
                "language",
                "registered_at",
                "last_seen_at",
            )
        )
    )
    .returning(*(_CUSTOMERS.c[name] for name in _CUSTOMER))
)


def _customer_record(row: Any) -> CustomerRecord:
    """A customer's ORM row or a Core row of `_CUSTOMER`'s columns, as a record."""
    return CustomerRecord(**{name: getattr(row, name) for name in _CUSTOMER})


class CustomerRepository(Repository):
    async def by_telegram_id(self, telegram_id: int) -> CustomerRecord | None:
        row = await (await self._core()).row(_CUSTOMER_BY_TELEGRAM_ID, telegram_id=telegram_id)
        return _customer_record(row) if row is not None else None

    async def get(self, customer_id: int) -> CustomerRecord | None:
        row = await (await self._core()).row(_CUSTOMER_BY_ID, customer_id=customer_id)
        return _customer_record(row) if row is not None else None

    async def languages(self, customer_ids: Iterable[int]) -> dict[int, str]:
        wanted = set(customer_ids)
        if not wanted:
            return {}
        rows = await (await self._core()).rows(
            select(CustomerRow.id, CustomerRow.language).where(
                CustomerRow.id.in_(wanted), CustomerRow.erased_at.is_(None)
            )
        )
        return {row.id: row.language for row in rows}

    async def turn(self, telegram_id: int, chat_id: int) -> TurnRecord | None:
        """The customer with their conversation in this chat (`conversation_id`, `step`,
        `data`: None when there is none yet) and their privacy consent, in one query."""
        core = await self._core()
        row = await core.row(_TURN, telegram_id=telegram_id, chat_id=chat_id)
        if row is None:
            return None
        return TurnRecord(**{name: getattr(row, name) for name in _TURN_FIELDS})

    async def register(self, customer: NewCustomer) -> CustomerRecord:
        """The new customer as kept; one with their Telegram id already is a `RecordConflict`."""
        row = await (await self._core()).row(
            _REGISTER,
            **prefixed(
                {
                    "telegram_id": customer.telegram_id,
                    "first_name": customer.first_name,
                    "last_name": customer.last_name,
                    "username": customer.username,
                    "language": customer.language,
                    "registered_at": customer.at,
                    "last_seen_at": customer.at,
                }
            ),
        )
        assert row is not None  # INSERT ... RETURNING returns the row it inserted
        return _customer_record(row)

    async def rename(
        self,
        customer_id: int,
        first_name: str | None,
        last_name: str | None,
        username: str | None,
        at: datetime,
    ) -> None:
        await self._set(
            customer_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            last_seen_at=at,
        )

    async def seen(self, customer_id: int, at: datetime, unless_since: datetime) -> None:
        """Record that the customer was seen at `at`, unless they were since `unless_since`
        (the retention sweep counts inactivity from it)."""
        await self._session.execute(
            update(CustomerRow)
            .where(CustomerRow.id == customer_id, CustomerRow.last_seen_at < unless_since)
            .values(last_seen_at=at)
            .execution_options(synchronize_session=False)
        )

    async def set_language(self, customer_id: int, language: str) -> None:
        await self._set(customer_id, language=language)

    async def erase(self, customer_id: int, at: datetime) -> None:
        await self._set(
            customer_id,
            telegram_id=None,
            first_name=None,
            last_name=None,
            username=None,
            erased_at=at,
        )

    async def _set(self, customer_id: int, **values: object) -> None:
        await self._session.execute(
            update(CustomerRow)
            .where(CustomerRow.id == customer_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def add(self, row: CustomerRow) -> None:
        """A customer row as it is (for tests that build one)."""
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()


_PHONES_OF_CUSTOMER = (
    select(_PHONES)
    .where(_PHONES.c.customer_id == bindparam("customer_id"))
    .order_by(_PHONES.c.bound_at, _PHONES.c.id)
)


class PhoneBindingRepository(Repository):
    async def of_customer(self, customer_id: int) -> list[PhoneBindingRecord]:
        """The customer's bound numbers, oldest first: shown on every phones screen."""
        core = await self._core()
        rows = await core.rows(_PHONES_OF_CUSTOMER, customer_id=customer_id)
        return [PhoneBindingRecord(**{name: getattr(r, name) for name in _PHONE}) for r in rows]

    async def bind(
        self, customer_id: int, digits: str, carrier: str, at: datetime, *, verified: bool = False
    ) -> PhoneBindingRecord | None:
        """A new bound number: `verified` when shared as the customer's own contact; None
        (nothing kept) when there is no such customer, or they were erased."""
        row = await (await self._core()).row(
            _BIND,
            customer_id=customer_id,
            digits=digits,
            carrier=carrier,
            bound_at=at,
            verified=verified,
        )
        if row is None:
            return None
        return PhoneBindingRecord(**{name: getattr(row, name) for name in _PHONE})

    async def remove(self, customer_id: int, binding_id: int) -> bool:
        result = await self._session.execute(
            delete(PhoneBindingRow).where(
                PhoneBindingRow.id == binding_id, PhoneBindingRow.customer_id == customer_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove_all(self, customer_id: int) -> None:
        await self._session.execute(
            delete(PhoneBindingRow).where(PhoneBindingRow.customer_id == customer_id)
        )

    async def mark_verified(self, customer_id: int, digits: str) -> None:
        await self._session.execute(
            update(PhoneBindingRow)
            .where(PhoneBindingRow.customer_id == customer_id, PhoneBindingRow.digits == digits)
            .values(verified=True)
            .execution_options(synchronize_session=False)
        )


class ConversationRepository(Repository):
    async def find(self, chat_id: int, telegram_id: int) -> ConversationRecord | None:
        result = await self._session.execute(
            select(ConversationRow).where(
                ConversationRow.chat_id == chat_id, ConversationRow.telegram_id == telegram_id
            )
        )
        row = result.scalar_one_or_none()
        if row is None:
            return None
        return ConversationRecord(
            row.chat_id, row.telegram_id, row.step, dict(row.data), row.updated_at
        )

    async def upsert(
        self, chat_id: int, telegram_id: int, step: str, data: dict[str, object], at: datetime
    ) -> None:
        core = await self._core()
        await core.run(
            _STATE_UPSERT,
            chat_id=chat_id,
            telegram_id=telegram_id,
            step=step,
            data=data,
            updated_at=at,
        )

    async def forget_user(self, telegram_id: int) -> None:
        await self._session.execute(
            delete(ConversationRow).where(ConversationRow.telegram_id == telegram_id)
        )

    async def reset_idle_since(self, cutoff: datetime, idle_step: str) -> int:
        result = await self._session.execute(
            update(ConversationRow)
            .where(ConversationRow.updated_at < cutoff, ConversationRow.step != idle_step)
            .values(step=idle_step, data={}, updated_at=cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


_PRODUCTS = cast(Table, ProductRow.__table__)
_ORDERS = cast(Table, OrderRow.__table__)
_ORDER_EVENTS = cast(Table, OrderEventRow.__table__)
_PAYMENTS = cast(Table, PaymentRow.__table__)
_WALLETS = cast(Table, WalletRow.__table__)
_WALLET_ENTRIES = cast(Table, WalletEntryRow.__table__)

_PRODUCT_FIELDS = tuple(f.name for f in fields(ProductRecord))
_PRODUCT_COLUMNS = [_PRODUCTS.c[name] for name in _PRODUCT_FIELDS]
_PRODUCT = select(*_PRODUCT_COLUMNS).where(_PRODUCTS.c.id == bindparam("product_id"))
_PRODUCT_BY_CODE = select(*_PRODUCT_COLUMNS).where(_PRODUCTS.c.code == bindparam("code"))
_ACTIVE_PRODUCTS = (
    select(*_PRODUCT_COLUMNS)
    .where(_PRODUCTS.c.kind == bindparam("kind"), _PRODUCTS.c.active.is_(True))
    .order_by(_PRODUCTS.c.sort_order, _PRODUCTS.c.id)
)


def _product(row: Sequence[Any] | None) -> ProductRecord | None:
    return _product_record(row) if row is not None else None


def _product_record(row: Sequence[Any]) -> ProductRecord:
    return ProductRecord(*row)


class ProductRepository(Repository):
    async def active(self, kind: str) -> list[ProductRecord]:
        rows = await (await self._core()).rows(_ACTIVE_PRODUCTS, kind=kind)
        return [_product_record(row) for row in rows]

    async def get(self, product_id: int) -> ProductRecord | None:
        """The product, whatever its state."""
        return _product(await (await self._core()).row(_PRODUCT, product_id=product_id))

    async def by_code(self, code: str) -> ProductRecord | None:
        return _product(await (await self._core()).row(_PRODUCT_BY_CODE, code=code))


# An order is read in the field order of `OrderRecord`, so a row is the record's arguments.
_ORDER_FIELDS = tuple(f.name for f in fields(OrderRecord))
_ORDER_COLUMNS = [_ORDERS.c[name] for name in _ORDER_FIELDS]


def _order(row: Sequence[Any] | None) -> OrderRecord | None:
    return _order_record(row) if row is not None else None


def _order_record(row: Sequence[Any]) -> OrderRecord:
    return OrderRecord(*row)


_ORDER = select(*_ORDER_COLUMNS).where(_ORDERS.c.id == bindparam("order_id"))
_ORDERS_OF_CUSTOMER = (
    select(*_ORDER_COLUMNS)
    .where(_ORDERS.c.customer_id == bindparam("customer_id"))
    .order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.id.desc())
    .limit(bindparam("limit"))
)
_ORDER_STATUS = select(_ORDERS.c.status).where(_ORDERS.c.id == bindparam("order_id"))
_NEW_ORDER = tuple(f.name for f in fields(NewOrder))
_ORDER_INSERT = (
    insert(_ORDERS)
    .values(
        {name: bindparam(name, type_=_ORDERS.c[name].type) for name in _NEW_ORDER}
        | {
            "updated_at": bindparam("created_at", type_=_ORDERS.c.updated_at.type),
            "outcome_notified": False,
            "last_cause": bindparam("last_cause"),
        }
    )
    .returning(*_ORDER_COLUMNS)
)


def _order_update(keys: tuple[str, ...], *guards: ColumnElement[bool]) -> Update:
    """Move an order from status `current` to `v_status`, also setting `keys`, when `guards`
    hold too; the order's row after the move is returned (none when it was not moved)."""
    return (
        update(_ORDERS)
        .where(
            _ORDERS.c.id == bindparam("order_id"),
            _ORDERS.c.status == bindparam("current"),
            *guards,
        )
        .values(
            {"status": bindparam("v_status"), "updated_at": bindparam("v_updated_at")} | bound(keys)
        )
        .returning(*_ORDER_COLUMNS)
    )


_ORDER_MOVE = StatementsByKeys(_order_update)
# An order in these statuses counts towards its customer's daily total.
_COUNTING = frozenset(status.value for status in COUNTS_TOWARDS_LIMIT)


def _payment_guards(purposes: tuple[str, ...]) -> tuple[ColumnElement[bool], ...]:
    """The order is the customer's (`owner`), still in its payment window at `v_updated_at`,
    and of a purpose the method pays for."""
    return (
        _ORDERS.c.customer_id == bindparam("owner"),
        _ORDERS.c.expires_at > bindparam("v_updated_at", type_=_ORDERS.c.expires_at.type),
        or_(*(_ORDERS.c.purpose == purpose for purpose in purposes)),
    )


_START_PAYMENT = StatementsByKeys(
    lambda purposes: _order_update(("payment_method", "last_cause"), *_payment_guards(purposes))
)
_START_PAYMENT_WITHOUT_OWN_COUPON = StatementsByKeys(
    lambda purposes: _order_update(
        ("payment_method", "last_cause"),
        *_payment_guards(purposes),
        _ORDERS.c.reward_coupon_id.is_(None),
    )
)
_MOVE_EVENT = insert(_ORDER_EVENTS)
_ORDER_SET = StatementsByKeys(
    lambda keys: update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).values(bound(keys))
)


# The columns an in-place change writes, and those that say the order is as it was read.
_CHANGED = tuple(f.name for f in fields(OrderChange))
_AS_READ = ("amount_fen", "list_price_fen", "coupon_code", "bundle_product_id")
_ORDER_CHANGE = (
    update(_ORDERS)
    .where(
        _ORDERS.c.id == bindparam("order_id"),
        _ORDERS.c.status == bindparam("unpaid"),
        _ORDERS.c.expires_at > bindparam("at", type_=_ORDERS.c.expires_at.type),
        *(
            _ORDERS.c[key].is_not_distinct_from(bindparam(f"was_{key}", type_=_ORDERS.c[key].type))
            for key in _AS_READ
        ),
    )
    .values(
        {key: bindparam(f"v_{key}", type_=_ORDERS.c[key].type) for key in _CHANGED}
        | {"updated_at": bindparam("at", type_=_ORDERS.c.updated_at.type)}
    )
    .returning(*_ORDER_COLUMNS)
)


def _OUTCOME_FREE(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Nobody holds a live claim to tell the order's outcome."""
    return OrderRow.outcome_claimed_until.is_(None) | (OrderRow.outcome_claimed_until <= now)


# Telling an order's outcome: claimed by one caller at a time, marked told once (Core: one of
# each for every completed order).
_CLAIM_OUTCOME = (
    update(_ORDERS)
    .where(
        _ORDERS.c.id == bindparam("order_id"),
        _ORDERS.c.outcome_notified.is_(False),
        _OUTCOME_FREE(bindparam("now", type_=_ORDERS.c.outcome_claimed_until.type)),
    )
    .values(outcome_claimed_until=bindparam("until"))
    .returning(_ORDERS.c.id)
)
_OUTCOME_TOLD = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"))
    .values(outcome_notified=True, outcome_claimed_until=None)
)
_RELEASE_OUTCOME = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"), _ORDERS.c.outcome_notified.is_(False))
    .values(outcome_claimed_until=None)
)


class OrderRepository(Repository):
    async def add(self, order: NewOrder, cause: str, daily_limit_fen: int) -> OrderRecord:
        """Insert a new order with its first history row, from no status to its own, for
        `cause`; the order as kept.

        The order's amount is taken from its customer's total of the day for its purpose
        first, only within `daily_limit_fen` (`LimitExceeded`, nothing inserted): however
        many orders arrive at once, in any number of processes. It is given back when the
        order leaves the statuses that count (`move`)."""
        scope = daily_scope(order.purpose, order.created_at)
        taken = await self._allowances.take(
            order.customer_id, scope, order.amount_fen, daily_limit_fen
        )
        if not taken:
            raise LimitExceeded("daily", Money(daily_limit_fen, order.currency))
        values = {name: getattr(order, name) for name in _NEW_ORDER}
        # The database writes the first history row with `last_cause`, and notes a recharge
        # order for the dashboard's roll-ups (`rollup_changes`, folded later).
        core = await self._core()
        row = await core.row(_ORDER_INSERT, **values, last_cause=cause)
        assert row is not None
        return _order_record(row)

    @property
    def _allowances(self) -> AllowanceRepository:
        return AllowanceRepository(self._uow)

    async def get(self, order_id: int) -> OrderRecord | None:
        return _order(await (await self._core()).row(_ORDER, order_id=order_id))

    async def of_customer(self, customer_id: int, limit: int) -> list[OrderRecord]:
        rows = await (await self._core()).rows(
            _ORDERS_OF_CUSTOMER, customer_id=customer_id, limit=limit
        )
        return [_order_record(row) for row in rows]

    async def move(
        self,
        order_id: int,
        from_statuses: Iterable[str],
        to_status: str,
        cause: str,
        at: datetime,
        *,
        payment: NewPayment | None = None,
        grant: Grant | None = None,
        claims: Sequence[SlotClaim] = (),
        **values: object,
    ) -> OrderRecord | None:
        """Move the order to `to_status` only if it is in one of `from_statuses` now; the
        order after the move, or None when it was not moved.

        The condition is checked by the database in the same statement, so of two concurrent
        attempts exactly one succeeds. The transition is recorded with its time and cause, by
        the database in the same statement (which also notes a completed recharge, and a
        payment, for the dashboard's roll-ups: `rollup_changes`).
        With `payment`, the order is paid by it (for the order's amount); a second payment of
        the order is a `RecordConflict`. With `grant`, the order's customer is granted it by
        the move (points, cash-back, slots), each once; a customer with no points balance or
        wallet to move cannot be (ValueError). With `claims`, the order takes a slot of each
        offer first and moves only if it got them all; the slots it took stay held when it
        did not move (a claim another mover made for the order at the same moment is a
        `RecordConflict`).
        """
        if sum((payment is not None, grant is not None, bool(claims))) > 1:
            raise ValueError("a move carries a payment, a grant or slot claims, not several")
        core = await self._core()
        sources = list(from_statuses)
        if len(sources) == 1:
            current: str | None = sources[0]  # the conditional update below checks it
        else:
            current = await core.value(_ORDER_STATUS, order_id=order_id)
            if current is None or current not in sources:
                return None
        values = {**values, "last_cause": cause}  # the history row, by the database
        params = prefixed(values) | {
            "order_id": order_id,
            "current": current,
            "v_status": to_status,
            "v_updated_at": at,
        }
        if claims and await core.value(_ORDER_STATUS, order_id=order_id) != current:
            return None  # no slot is taken for an order another worker already moved
        for claim in claims:
            taken = await OfferClaimRepository(self._uow).claim(claim, order_id, at)
            if not taken:
                return None
        moved = _order(await core.row(_ORDER_MOVE(values), **params))
        if moved is not None and current == to_status:
            # The database records changes of status; a move that keeps it says why itself.
            await self.record(order_id, current, to_status, cause, at)
        if moved is not None:
            if current in _COUNTING and to_status not in _COUNTING:
                scope = daily_scope(moved.purpose, moved.created_at)
                await self._allowances.give_back(moved.customer_id, scope, moved.amount_fen)
            if payment is not None:
                await _insert_payment(
                    core,
                    order_id,
                    replace(payment, amount_fen=moved.amount_fen, currency=moved.currency),
                )
            if grant is not None:
                await self.grant(order_id, moved.customer_id, grant, at)
        return moved

    async def change_unpaid(
        self,
        was: OrderRecord,
        change: OrderChange,
        cause: str,
        at: datetime,
        daily_limit_fen: int,
    ) -> OrderRecord | None:
        """Change the unpaid order `was` (its row as read) in place to `change`, only while it
        is still new (no payment started), in its payment window and as it was read (price,
        coupon, pack): of concurrent changes and payments, one that read it before another
        wrote never applies. The change is recorded in its history for `cause`. The order's row
        after it, or None when it was not changed.

        Its customer's total of the day follows the new price in the same transaction: a rise
        is taken within `daily_limit_fen` (`LimitExceeded`: the caller's unit of work then
        keeps nothing), a fall is given back."""
        core = await self._core()
        params = {f"was_{key}": getattr(was, key) for key in _AS_READ}
        changed = _order(
            await core.row(
                _ORDER_CHANGE,
                order_id=was.id,
                unpaid=OrderStatus.CREATED.value,
                at=at,
                **params,
                **prefixed({key: getattr(change, key) for key in _CHANGED}),
            )
        )
        if changed is None:
            return None
        scope = daily_scope(changed.purpose, changed.created_at)
        rise = changed.amount_fen - was.amount_fen
        if rise > 0 and not await self._allowances.take(
            changed.customer_id, scope, rise, daily_limit_fen
        ):
            raise LimitExceeded("daily", Money(daily_limit_fen, changed.currency))
        if rise < 0:
            await self._allowances.give_back(changed.customer_id, scope, -rise)
        await self.record(was.id, changed.status, changed.status, cause[:64], at)
        return changed

    async def grant(self, order_id: int, customer_id: int, grant: Grant, at: datetime) -> bool:
        """Grant the order's customer what completing it earned, in the unit of work's
        transaction: the points, the cash-back, the slots it holds. False when the points
        were granted already: a replay grants nothing again. A customer with no points
        balance or wallet to move cannot be granted (ValueError)."""
        core = await self._core()
        if grant.earning is not None:
            if not await earn_points_once(core, customer_id, grant.earning, at, order_id):
                return False
        if grant.cashback is not None:
            await credit_wallet_once(core, customer_id, grant.cashback, at, order_id)
        if grant.claims:
            await OfferClaimRepository(self._uow).grant_all(order_id)
        return True

    async def start_payment(
        self,
        order_id: int,
        owner: int,
        purposes: Iterable[str],
        method: str,
        cause: str,
        at: datetime,
        *,
        without_own_coupon: bool = False,
    ) -> OrderRecord | None:
        """created -> awaiting_payment by `method`, only for the owner's order, still in its
        payment window and of one of `purposes` (with `without_own_coupon`: holding no coupon
        of the customer's own); recorded like any move. The order's row after it, or None."""
        core = await self._core()
        params = {
            "order_id": order_id,
            "owner": owner,
            "current": "created",
            "v_status": "awaiting_payment",
            "v_updated_at": at,
            "v_payment_method": method,
            "v_last_cause": cause,
        }
        statements = _START_PAYMENT_WITHOUT_OWN_COUPON if without_own_coupon else _START_PAYMENT
        return _order(await core.row(statements(purposes), **params))

    async def record(
        self, order_id: int, from_status: str | None, to_status: str, cause: str, at: datetime
    ) -> None:
        """A history row of its own: a note on the order that is no change of status (the
        database writes the row of every change of status itself)."""
        await (await self._core()).run(
            _MOVE_EVENT,
            order_id=order_id,
            from_status=from_status,
            to_status=to_status,
            cause=cause,
            at=at,
        )

    async def set_values(self, order_id: int, **values: object) -> None:
        core = await self._core()
        await core.run(_ORDER_SET(values), order_id=order_id, **prefixed(values))

    async def events(self, order_id: int) -> list[OrderEventRecord]:
        result = await self._session.execute(
            select(OrderEventRow)
            .where(OrderEventRow.order_id == order_id)
            .order_by(OrderEventRow.id)
        )
        return [
            OrderEventRecord(e.id, e.order_id, e.from_status, e.to_status, e.cause, e.at)
            for e in result.scalars()
        ]

    async def events_since(self, customer_id: int, cause: str, since: datetime) -> int:
        """How many events with this cause the customer's orders had since then."""
        count = await self._session.scalar(
            select(func.count())
            .select_from(OrderEventRow)
            .join(OrderRow, OrderRow.id == OrderEventRow.order_id)
            .where(
                OrderRow.customer_id == customer_id,
                OrderEventRow.cause == cause,
                OrderEventRow.at >= since,
            )
        )
        return int(count or 0)

    async def due_for_expiry(self, now: datetime, statuses: Iterable[str]) -> list[int]:
        rows = await (await self._core()).rows(
            select(_ORDERS.c.id).where(
                _ORDERS.c.status.in_(list(statuses)), _ORDERS.c.expires_at <= now
            )
        )
        return [row.id for row in rows]

    async def in_flight(
        self, now: datetime, statuses: Iterable[str], limit: int
    ) -> list[OrderRecord]:
        rows = await (await self._core()).rows(
            select(*_ORDER_COLUMNS)
            .where(
                _ORDERS.c.status.in_(list(statuses)),
                _ORDERS.c.next_check_at.is_(None) | (_ORDERS.c.next_check_at <= now),
            )
            .order_by(_ORDERS.c.id)
            .limit(limit)
        )
        return [_order_record(row) for row in rows]

    async def awaiting_provider(self, statuses: Iterable[str], methods: Iterable[str]) -> list[int]:
        rows = await (await self._core()).rows(
            select(_ORDERS.c.id).where(
                _ORDERS.c.status.in_(list(statuses)),
                _ORDERS.c.payment_method.in_(list(methods)),
            )
        )
        return [row.id for row in rows]

    async def unnotified(
        self, statuses: Iterable[str], limit: int, now: datetime
    ) -> list[OrderRecord]:
        """Orders in `statuses` whose customer was not told, and that nobody is telling now."""
        rows = await (await self._core()).rows(
            select(*_ORDER_COLUMNS)
            .where(
                _ORDERS.c.status.in_(list(statuses)),
                _ORDERS.c.outcome_notified.is_(False),
                _OUTCOME_FREE(now),
            )
            .order_by(_ORDERS.c.id)
            .limit(limit)
        )
        return [_order_record(row) for row in rows]

    async def claim_outcome(self, order_id: int, now: datetime, until: datetime) -> bool:
        """True for the one caller that may tell the customer the order's outcome now, until
        `until` (then, unless it was marked told, another may)."""
        claimed = await (await self._core()).row(
            _CLAIM_OUTCOME, order_id=order_id, now=now, until=until
        )
        return claimed is not None

    async def outcome_told(self, order_id: int) -> None:
        """The customer was told: never again."""
        await (await self._core()).run(_OUTCOME_TOLD, order_id=order_id)

    async def release_outcome(self, order_id: int) -> None:
        """The outcome could not be delivered: free for the next sweep at once."""
        await (await self._core()).run(_RELEASE_OUTCOME, order_id=order_id)

    async def anonymise_phones(self, customer_id: int) -> None:
        """Keep only 138****5678 of every number the customer's orders were for."""
        digits = OrderRow.phone_digits
        await self._session.execute(
            update(OrderRow)
            .where(
                OrderRow.customer_id == customer_id,
                digits.is_not(None),
                digits.not_like("%*%"),
            )
            .values(phone_digits=func.substr(digits, 1, 3) + "****" + func.substr(digits, 8, 4))
            .execution_options(synchronize_session=False)
        )


_PAYMENT_INSERT = RowInserter(_PAYMENTS)
_LATEST_PAYMENT = (
    select(func.max(_PAYMENTS.c.id))
    .join(_ORDERS, _ORDERS.c.id == _PAYMENTS.c.order_id)
    .where(_ORDERS.c.customer_id == bindparam("customer_id"))
)

_WALLET_BALANCE = select(_WALLETS.c.balance_fen).where(
    _WALLETS.c.customer_id == bindparam("customer_id")
)


_OPEN_WALLET = insert(_WALLETS).values(
    customer_id=bindparam("customer_id"), balance_fen=0, currency=bindparam("currency")
)
_WALLET_ENTRY_BY_KEY = select(_WALLET_ENTRIES.c.id).where(
    _WALLET_ENTRIES.c.idempotency_key == bindparam("key")
)


_PAYMENT = tuple(f.name for f in fields(PaymentRecord))


def _payment_record(row: PaymentRow | None) -> PaymentRecord | None:
    if row is None:
        return None
    return PaymentRecord(**{name: getattr(row, name) for name in _PAYMENT})


async def _insert_payment(core: CoreConnection, order_id: int, payment: NewPayment) -> int:
    """Insert the order's payment; a second one for the order is a `RecordConflict`."""
    row = PaymentRow(
        order_id=order_id,
        method=payment.method,
        reference=payment.reference,
        captured_at=payment.captured_at,
        telegram_charge_id=payment.telegram_charge_id,
        amount_fen=payment.amount_fen,
        currency=payment.currency,
    )
    return await _PAYMENT_INSERT.insert(core, row)


class PaymentRepository(Repository):
    async def add(self, order_id: int, payment: NewPayment) -> int:
        """Insert the order's payment; a second one for the order is a `RecordConflict`."""
        return await _insert_payment(await self._core(), order_id, payment)

    async def of_order(self, order_id: int) -> PaymentRecord | None:
        result = await self._session.execute(
            select(PaymentRow).where(PaymentRow.order_id == order_id)
        )
        return _payment_record(result.scalar_one_or_none())

    async def latest_of_customer(self, customer_id: int) -> int | None:
        return await (await self._core()).value(_LATEST_PAYMENT, customer_id=customer_id)  # type: ignore[no-any-return]

    async def by_telegram_charge(self, charge_id: str) -> PaymentRecord | None:
        result = await self._session.execute(
            select(PaymentRow).where(PaymentRow.telegram_charge_id == charge_id)
        )
        return _payment_record(result.scalar_one_or_none())

    async def mark_refunded(self, order_id: int, at: datetime, route: str) -> bool:
        result = await self._session.execute(
            update(PaymentRow)
            .where(PaymentRow.order_id == order_id, PaymentRow.refunded_at.is_(None))
            .values(refunded_at=at, refund_route=route)
            .returning(PaymentRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def claim_refund(self, order_id: int, at: datetime, stale_before: datetime) -> bool:
        result = await self._session.execute(
            update(PaymentRow)
            .where(
                PaymentRow.order_id == order_id,
                PaymentRow.refunded_at.is_(None),
                PaymentRow.refund_claimed_at.is_(None)
                | (PaymentRow.refund_claimed_at < stale_before),
            )
            .values(refund_claimed_at=at)
            .returning(PaymentRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def release_refund_claim(self, order_id: int, claimed_at: datetime) -> bool:
        result = await self._session.execute(
            update(PaymentRow)
            .where(
                PaymentRow.order_id == order_id,
                PaymentRow.refunded_at.is_(None),
                PaymentRow.refund_claimed_at == claimed_at,
            )
            .values(refund_claimed_at=None)
            .returning(PaymentRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None


class WalletRepository(Repository):
    async def open(self, customer_id: int, currency: str) -> None:
        await (await self._core()).run(_OPEN_WALLET, customer_id=customer_id, currency=currency)

    async def balance(self, customer_id: int) -> int:
        core = await self._core()
        return int(await core.value(_WALLET_BALANCE, customer_id=customer_id) or 0)

    async def ledger_sum(self, customer_id: int) -> int:
        value = await self._session.scalar(
            select(func.coalesce(func.sum(WalletEntryRow.amount_fen), 0)).where(
                WalletEntryRow.customer_id == customer_id
            )
        )
        return int(value or 0)

    async def entries(self, customer_id: int, limit: int) -> list[WalletEntryRecord]:
        result = await self._session.execute(
            select(WalletEntryRow)
            .where(WalletEntryRow.customer_id == customer_id)
            .order_by(WalletEntryRow.id.desc())
            .limit(limit)
        )
        names = [f.name for f in fields(WalletEntryRecord)]
        return [
            WalletEntryRecord(**{name: getattr(row, name) for name in names})
            for row in result.scalars()
        ]

    async def has_entry(self, key: str) -> bool:
        core = await self._core()
        return await core.value(_WALLET_ENTRY_BY_KEY, key=key) is not None

    async def post(
        self,
        customer_id: int,
        amount_fen: int,
        currency: str,
        kind: str,
        key: str,
        at: datetime,
        order_id: int | None = None,
    ) -> bool:
        """Move the balance by `amount_fen` with its ledger entry; False if it would go negative.

        One conditional statement moves the balance, so concurrent moves can never overdraw
        it; the entry's unique key makes a replay fail with an IntegrityError.
        """
        core = await self._core()
        if not await core.run(WALLET_SHIFT, owner_id=customer_id, delta=amount_fen):
            return False
        await core.run(
            WALLET_ENTRY,
            **wallet_entry(customer_id, amount_fen, currency, kind, key, at, order_id),
        )
        return True
