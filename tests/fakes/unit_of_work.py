"""A unit of work in memory: the repositories of `domain/repositories.py` over dictionaries, with
the database's semantics where services rely on them.

- One transaction per unit of work: it works on a copy of what was committed and keeps it only
  on `commit()`; leaving without committing keeps nothing.
- Writers take turns (like SQLite's one writer): a unit of work that writes holds the turn from
  entering to leaving, so a conditional write sees every write committed before it; `read()`
  units of work never wait and see what was committed when they began.
- Unique keys: a broken one raises `RecordConflict` where the database would (a Core write at
  once, an added row when the unit of work commits).
- A unit of work is never opened inside another (`NestedUnitOfWorkError`).

The contract tests (`tests/contracts/`) run the same bodies against this and both databases.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType

from domain.allowances import Take, daily_scope
from domain.audit import AuditEntry, AuditRecord
from domain.broadcasts import PushSkip
from domain.errors import RecordConflict
from domain.figures import (
    Funnel,
    HourlySales,
    OfferFigures,
    Period,
    PointsFigures,
    ReferralFigures,
    Sales,
    SentMessage,
)
from domain.holdout import GroupOutcome
from domain.money import Money
from domain.orders import COUNTS_TOWARDS_LIMIT, LimitExceeded, OrderStatus
from domain.persistence.privacy_repositories import ERASED_REASON, NO_CHAT
from domain.persistence.unit_of_work import NestedUnitOfWorkError
from domain.privacy import PersonalData
from domain.repositories import (
    ConversationRecord,
    CustomerRecord,
    Grant,
    NewCustomer,
    NewOrder,
    NewPayment,
    NewTicket,
    NewTicketMessage,
    OrderChange,
    OrderEventRecord,
    OrderRatingRecord,
    OrderRecord,
    PaymentRecord,
    PhoneBindingRecord,
    ProductRecord,
    SlotClaim,
    TicketMessageRecord,
    TicketRecord,
    TurnRecord,
    WalletEntryRecord,
)
from domain.repositories.campaign_files import (
    CampaignToLoad,
    LoadedOffer,
    OfferToLoad,
    RewardToLoad,
)
from domain.repositories.pins import PinRecord
from domain.repositories.reminders import PLANNED, SKIPPED
from domain.tickets import ERASED_TEXT
from tests.fakes.money_repositories import (
    FakeCampaign,
    FakeCampaignReader,
    FakeClaim,
    FakeNoticeRepository,
    FakeNumberAllowanceRepository,
    FakeOffer,
    FakeOfferClaimRepository,
    FakePointsBalance,
    FakePointsEntry,
    FakePointsRepository,
    FakeProductRepository,
    FakeRedemption,
    FakeReward,
    FakeRewardCoupon,
    FakeRewardCouponRepository,
    FakeRewardRepository,
    FakeRiskCase,
    FakeRiskRepository,
    catalogue,
    utc,
)
from tests.fakes.push_repositories import (
    FakeBroadcast,
    FakeBroadcastAction,
    FakeBroadcastRepository,
    FakeLease,
    FakeLeaseRepository,
    FakePush,
    FakeReminder,
    FakeReminderRepository,
    FakeSubscription,
    FakeSurveyAnswer,
)
from tests.fakes.referral_repositories import (
    FakeInviteCode,
    FakeReferral,
    FakeReferralRepository,
    FakeReferralReward,
    FakeShortfall,
)


@dataclass(frozen=True)
class Suggestion:
    id: int
    customer_id: int
    text: str
    at: datetime


@dataclass(frozen=True)
class Consent:
    accepted_at: datetime
    marketing: bool


@dataclass(frozen=True)
class DashboardToken:
    kind: str
    telegram_id: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class Wallet:
    balance_fen: int
    currency: str


@dataclass
class Tables:
    """Everything the fake keeps; records are frozen, so a shallow copy of each table is a
    snapshot."""

    ids: dict[str, int] = field(default_factory=dict)
    customers: dict[int, CustomerRecord] = field(default_factory=dict)
    phones: dict[int, PhoneBindingRecord] = field(default_factory=dict)
    verified_phones: set[tuple[int, str]] = field(default_factory=set)
    conversations: dict[tuple[int, int], ConversationRecord] = field(default_factory=dict)
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    order_events: dict[int, OrderEventRecord] = field(default_factory=dict)
    allowances: dict[tuple[int, str], int] = field(default_factory=dict)
    # The money tables (`tests/fakes/money_repositories.py`); the catalogue as seeded.
    products: dict[int, ProductRecord] = field(default_factory=catalogue)
    campaigns: dict[int, FakeCampaign] = field(default_factory=dict)
    offers: dict[int, FakeOffer] = field(default_factory=dict)
    claims: dict[int, FakeClaim] = field(default_factory=dict)
    points_balances: dict[int, FakePointsBalance] = field(default_factory=dict)
    points_entries: dict[int, FakePointsEntry] = field(default_factory=dict)
    rewards: dict[int, FakeReward] = field(default_factory=dict)
    redemptions: dict[int, FakeRedemption] = field(default_factory=dict)
    reward_coupons: dict[int, FakeRewardCoupon] = field(default_factory=dict)
    notices: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    number_allowances: dict[tuple[str, str], int] = field(default_factory=dict)
    risk_cases: dict[int, FakeRiskCase] = field(default_factory=dict)
    tickets: dict[int, TicketRecord] = field(default_factory=dict)
    messages: dict[int, TicketMessageRecord] = field(default_factory=dict)
    suggestions: dict[int, Suggestion] = field(default_factory=dict)
    ratings: dict[int, OrderRatingRecord] = field(default_factory=dict)
    quota: dict[tuple[int, datetime], int] = field(default_factory=dict)
    roles: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    wallets: dict[int, Wallet] = field(default_factory=dict)
    wallet_entries: dict[int, WalletEntryRecord] = field(default_factory=dict)
    payments: dict[int, PaymentRecord] = field(default_factory=dict)
    audit: dict[int, AuditRecord] = field(default_factory=dict)
    consents: dict[int, Consent] = field(default_factory=dict)
    pins: dict[int, PinRecord] = field(default_factory=dict)
    dashboard_tokens: dict[str, DashboardToken] = field(default_factory=dict)
    # The staff chat's digests by day: (claimed until, sent at).
    staff_digests: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    # Reminders and broadcasts (`tests/fakes/push_repositories.py`).
    reminder_subscriptions: dict[int, FakeSubscription] = field(default_factory=dict)
    reminder_outbox: dict[int, FakeReminder] = field(default_factory=dict)
    unreachable: dict[int, datetime] = field(default_factory=dict)
    leases: dict[str, FakeLease] = field(default_factory=dict)
    broadcasts: dict[int, FakeBroadcast] = field(default_factory=dict)
    pushes: dict[int, FakePush] = field(default_factory=dict)
    push_opt_outs: dict[int, datetime] = field(default_factory=dict)
    broadcast_actions: dict[int, FakeBroadcastAction] = field(default_factory=dict)
    survey_answers: dict[int, FakeSurveyAnswer] = field(default_factory=dict)
    time_zones: dict[int, str] = field(default_factory=dict)  # the customers' chosen zones
    # Referrals (`tests/fakes/referral_repositories.py`).
    invite_codes: dict[int, FakeInviteCode] = field(default_factory=dict)
    referrals: dict[int, FakeReferral] = field(default_factory=dict)
    referral_rewards: dict[int, FakeReferralReward] = field(default_factory=dict)
    referral_caps: dict[tuple[int, str], int] = field(default_factory=dict)
    referral_shortfalls: dict[int, FakeShortfall] = field(default_factory=dict)

    @property
    def points(self) -> set[int]:
        """The customers with a points balance."""
        return set(self.points_balances)

    def campaign_named(self, code: str) -> FakeCampaign:
        return next(c for c in self.campaigns.values() if c.code == code)

    def offer_named(self, code: str) -> FakeOffer:
        return next(o for o in self.offers.values() if o.code == code)

    def reward_named(self, code: str) -> FakeReward:
        return next(r for r in self.rewards.values() if r.code == code)

    def snapshot(self) -> Tables:
        return Tables(**{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)})

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]


class FakeDatabase:
    """What units of work commit to; a test may seed it directly."""

    def __init__(self, now: datetime = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)) -> None:
        self.now = now  # when the orders a test adds directly were created
        self.tables = Tables()
        self.writers = asyncio.Lock()
        self.commits = 0

    def add_customer(self, at: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> int:
        """A registered customer (Telegram id 1000 + their id) without a wallet."""
        customer_id = self.tables.next_id("customers")
        self.tables.customers[customer_id] = CustomerRecord(
            customer_id, 1000 + customer_id, None, None, None, "zh_CN", at, at, None
        )
        return customer_id

    def add_order(
        self,
        customer_id: int,
        status: str,
        *,
        amount_fen: int = 0,
        phone_digits: str | None = None,
        **values: object,
    ) -> int:
        """An order of the customer's in `status` (a recharge, unless `values` say otherwise),
        with no history and nothing taken of any allowance."""
        order_id = self.tables.next_id("orders")
        new = NewOrder(
            customer_id=customer_id,
            purpose="recharge",
            status=status,
            amount_fen=amount_fen,
            currency="CNY",
            created_at=self.now,
            expires_at=self.now + timedelta(minutes=15),
            phone_digits=phone_digits,
        )
        order = _order_record(order_id, replace(new, **values), None)  # type: ignore[arg-type]
        self.tables.orders[order_id] = order
        return order_id

    def add_offer(self, quota: int | None = None, budget_fen: int | None = None) -> int:
        """An offer of its own campaign, live a day either side of `now`."""
        campaign_id = self.tables.next_id("campaigns")
        offer_id = self.tables.next_id("offers")
        code = f"offer-{offer_id}"
        self.tables.campaigns[campaign_id] = FakeCampaign(
            campaign_id,
            code,
            starts_at=self.now - timedelta(days=1),
            ends_at=self.now + timedelta(days=1),
        )
        self.tables.offers[offer_id] = FakeOffer(
            offer_id, campaign_id, code, quota=quota, budget_fen=budget_fen
        )
        return offer_id


_open_unit: ContextVar[FakeUnitOfWork | None] = ContextVar("open_fake_unit", default=None)


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase, *, writes: bool) -> None:
        self._database = database
        self._writes = writes
        self.tables = database.tables.snapshot()
        self._on_commit: list[Callable[[Tables], None]] = []
        self.support = FakeSupportRepository(self)
        self.wallets = FakeWalletRepository(self)
        self.orders = FakeOrderRepository(self)
        self.customers = FakeCustomerRepository(self)
        self.payments = FakePaymentRepository(self)
        self.audit = FakeAuditTrail(self)
        self.phones = FakePhoneBindingRepository(self)
        self.conversations = FakeConversationRepository(self)
        self.points = FakePointsRepository(self)
        self.allowances = FakeAllowanceRepository(self)
        self.products = FakeProductRepository(self)
        self.campaigns = FakeCampaignReader(self)
        self.claims = FakeOfferClaimRepository(self)
        self.rewards = FakeRewardRepository(self)
        self.reward_coupons = FakeRewardCouponRepository(self)
        self.notices = FakeNoticeRepository(self)
        self.number_allowances = FakeNumberAllowanceRepository(self)
        self.risk = FakeRiskRepository(self)
        self.privacy = FakePrivacyRepository(self)
        self.consents = FakeConsentRepository(self)
        self.pins = FakePinRepository(self)
        self.dashboard_tokens = FakeDashboardTokenRepository(self)
        self.staff_digests = FakeStaffDigestRepository(self)
        self.campaign_files = FakeCampaignFileRepository(self)
        self.figures = FakeFigureReader()
        self.push_figures = FakePushFigureReader()
        self.offers_seen = FakeOffersSeen()
        self.holdout_buckets = FakeHoldoutBuckets()
        self.rollups = FakeRollups()
        self.reminders = FakeReminderRepository(self)
        self.leases = FakeLeaseRepository(self)
        self.broadcasts = FakeBroadcastRepository(self)
        self.referrals = FakeReferralRepository(self)

    async def __aenter__(self) -> FakeUnitOfWork:
        if _open_unit.get() is not None:
            raise NestedUnitOfWorkError("a unit of work was opened inside another")
        if self._writes:
            await self._database.writers.acquire()
        self._token = _open_unit.set(self)
        self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _open_unit.reset(self._token)
        if self._writes:
            self._database.writers.release()

    def _begin(self) -> None:
        self.tables = self._database.tables.snapshot()
        self._on_commit = []

    def check_later(self, check: Callable[[Tables], None]) -> None:
        """A unique key the database checks when the added row is flushed (on commit)."""
        self._on_commit.append(check)

    async def commit(self) -> None:
        if not self._writes:
            raise RuntimeError("a read-only unit of work commits nothing")
        checks, tables = self._on_commit, self.tables
        self._begin()
        for check in checks:
            check(tables)  # RecordConflict: nothing of the transaction is kept
        self._database.tables = tables
        self._database.commits += 1
        self._begin()

    async def rollback(self) -> None:
        self._begin()


class _Check:
    def __init__(self, table: str, key: object) -> None:
        self.table, self.key = table, key

    def __call__(self, tables: Tables) -> None:
        raise NotImplementedError


class _Unique(_Check):
    """At most one record of `table` has `key`."""

    def __init__(self, table: str, key: object, names: tuple[str, ...]) -> None:
        super().__init__(table, key)
        self.names = names

    def __call__(self, tables: Tables) -> None:
        records: dict[int, object] = getattr(tables, self.table)
        found = [
            r for r in records.values() if tuple(getattr(r, n) for n in self.names) == self.key
        ]
        if len(found) > 1:
            raise RecordConflict(f"{self.table}: {self.names} = {self.key} exists")


class _Raise(_Check):
    def __call__(self, tables: Tables) -> None:
        raise RecordConflict(f"{self.table}: {self.key} exists")


class FakeUnitOfWorkFactory:
    def __init__(self, database: FakeDatabase | None = None) -> None:
        self.database = database or FakeDatabase()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.database, writes=True)

    def read(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.database, writes=False)

    def report(self) -> FakeUnitOfWork:
        return self.read()

    def single_statement(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.database, writes=True)


# -- repositories ------------------------------------------------------------------------------


class _Repository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _t(self) -> Tables:
        return self._uow.tables


_ORDER_FIELDS = frozenset(f.name for f in fields(OrderRecord))
# The statuses in which an order counts towards its customer's total of the day.
_COUNTING = frozenset(s.value for s in COUNTS_TOWARDS_LIMIT)
_AS_READ = ("amount_fen", "list_price_fen", "coupon_code", "bundle_product_id")


def _order_record(order_id: int, new: NewOrder, cause: str | None) -> OrderRecord:
    return OrderRecord(
        id=order_id,
        **{f.name: getattr(new, f.name) for f in fields(NewOrder)},
        gateway_reference=None,
        failure_reason=None,
        next_check_at=None,
        updated_at=new.created_at,
        outcome_notified=False,
        outcome_claimed_until=None,
        last_cause=cause,
        bundle_product_id=None,
        bundle_product_code=None,
        bundle_name_zh=None,
        bundle_name_en=None,
        bundle_price_fen=None,
        reward_coupon_id=None,
    )


class FakeAllowanceRepository(_Repository):
    async def take(self, customer_id: int, scope: str, amount: int, limit: int) -> bool:
        used = self._t.allowances.get((customer_id, scope), 0)
        if used + amount > limit:
            self._t.allowances.setdefault((customer_id, scope), used)
            return False
        self._t.allowances[(customer_id, scope)] = used + amount
        return True

    async def take_each(self, customer_id: int, takes: Sequence[Take]) -> set[str]:
        if len({t.scope for t in takes}) != len(takes):
            raise ValueError("one scope taken twice in one statement")
        return {t.scope for t in takes if await self.take(customer_id, t.scope, t.amount, t.limit)}

    async def give_back(self, customer_id: int, scope: str, amount: int) -> None:
        key = (customer_id, scope)
        if key in self._t.allowances:
            self._t.allowances[key] = max(self._t.allowances[key] - amount, 0)

    async def used(self, customer_id: int, scope: str) -> int:
        return self._t.allowances.get((customer_id, scope), 0)


class FakeOrderRepository(_Repository):
    async def add(self, order: NewOrder, cause: str, daily_limit_fen: int) -> OrderRecord:
        scope = daily_scope(order.purpose, order.created_at)
        allowances = self._uow.allowances
        if not await allowances.take(order.customer_id, scope, order.amount_fen, daily_limit_fen):
            raise LimitExceeded("daily", Money(daily_limit_fen, order.currency))
        order_id = self._t.next_id("orders")
        record = _order_record(order_id, order, cause)
        self._t.orders[order_id] = record
        self._event(order_id, None, order.status, cause, order.created_at)
        return record

    def _event(
        self, order_id: int, from_status: str | None, to_status: str, cause: str, at: datetime
    ) -> None:
        event_id = self._t.next_id("order_events")
        self._t.order_events[event_id] = OrderEventRecord(
            event_id, order_id, from_status, to_status, cause, at
        )

    def _set(self, order_id: int, **values: object) -> OrderRecord:
        unknown = set(values) - _ORDER_FIELDS
        if unknown:
            raise TypeError(f"orders have no {sorted(unknown)}")
        changed = replace(self._t.orders[order_id], **values)  # type: ignore[arg-type]
        self._t.orders[order_id] = changed
        return changed

    async def get(self, order_id: int) -> OrderRecord | None:
        return self._t.orders.get(order_id)

    async def of_customer(self, customer_id: int, limit: int) -> list[OrderRecord]:
        theirs = [o for o in self._t.orders.values() if o.customer_id == customer_id]
        return sorted(theirs, key=lambda o: (o.created_at, o.id), reverse=True)[:limit]

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
        if sum((payment is not None, grant is not None, bool(claims))) > 1:
            raise ValueError("a move carries a payment, a grant or slot claims, not several")
        order = self._t.orders.get(order_id)
        if order is None or order.status not in set(from_statuses):
            return None
        current = order.status
        for claim in claims:
            if not await self._uow.claims.claim(claim, order_id, at):
                return None
        moved = self._set(order_id, **values, status=to_status, updated_at=at, last_cause=cause)
        self._event(order_id, current, to_status, cause, at)
        if current in _COUNTING and to_status not in _COUNTING:
            scope = daily_scope(moved.purpose, moved.created_at)
            await self._uow.allowances.give_back(moved.customer_id, scope, moved.amount_fen)
        if payment is not None:
            paid = replace(payment, amount_fen=moved.amount_fen, currency=moved.currency)
            await self._uow.payments.add(order_id, paid)
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
        order = self._t.orders.get(was.id)
        if (
            order is None
            or order.status != OrderStatus.CREATED.value
            or order.expires_at <= at
            or any(getattr(order, key) != getattr(was, key) for key in _AS_READ)
        ):
            return None
        changed = self._set(
            was.id, **{f.name: getattr(change, f.name) for f in fields(change)}, updated_at=at
        )
        scope = daily_scope(changed.purpose, changed.created_at)
        rise = changed.amount_fen - was.amount_fen
        allowances = self._uow.allowances
        if rise > 0 and not await allowances.take(
            changed.customer_id, scope, rise, daily_limit_fen
        ):
            raise LimitExceeded("daily", Money(daily_limit_fen, changed.currency))
        if rise < 0:
            await allowances.give_back(changed.customer_id, scope, -rise)
        self._event(was.id, changed.status, changed.status, cause[:64], at)
        return changed

    async def grant(self, order_id: int, customer_id: int, grant: Grant, at: datetime) -> bool:
        earning = grant.earning
        if earning is not None:
            if not await self._uow.points.earn_once(customer_id, earning, at, order_id):
                return False
        cashback, wallets = grant.cashback, self._uow.wallets
        if cashback is not None and not await wallets.has_entry(cashback.key):
            credited = await wallets.post(
                customer_id,
                cashback.amount_fen,
                cashback.currency,
                "cashback",
                cashback.key,
                at,
                order_id,
            )
            if not credited:
                raise ValueError(f"order {order_id}: its customer has no wallet to grant to")
        if grant.claims:
            await self._uow.claims.grant_all(order_id)
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
        order = self._t.orders.get(order_id)
        if (
            order is None
            or order.customer_id != owner
            or order.expires_at <= at
            or order.purpose not in set(purposes)
            or (without_own_coupon and order.reward_coupon_id is not None)
        ):
            return None
        return await self.move(
            order_id, ["created"], "awaiting_payment", cause, at, payment_method=method
        )

    async def record(
        self, order_id: int, from_status: str | None, to_status: str, cause: str, at: datetime
    ) -> None:
        self._event(order_id, from_status, to_status, cause, at)

    async def set_values(self, order_id: int, **values: object) -> None:
        if order_id in self._t.orders:
            self._set(order_id, **values)

    async def events(self, order_id: int) -> list[OrderEventRecord]:
        return sorted(
            (e for e in self._t.order_events.values() if e.order_id == order_id),
            key=lambda e: e.id,
        )

    async def events_since(self, customer_id: int, cause: str, since: datetime) -> int:
        theirs = {o.id for o in self._t.orders.values() if o.customer_id == customer_id}
        return sum(
            1
            for e in self._t.order_events.values()
            if e.order_id in theirs and e.cause == cause and e.at >= since
        )

    def _ids(self, keep: Callable[[OrderRecord], bool]) -> list[int]:
        return sorted(o.id for o in self._t.orders.values() if keep(o))

    async def due_for_expiry(self, now: datetime, statuses: Iterable[str]) -> list[int]:
        wanted = set(statuses)
        return self._ids(lambda o: o.status in wanted and o.expires_at <= now)

    async def in_flight(
        self, now: datetime, statuses: Iterable[str], limit: int
    ) -> list[OrderRecord]:
        wanted = set(statuses)
        ids = self._ids(
            lambda o: o.status in wanted and (o.next_check_at is None or o.next_check_at <= now)
        )
        return [self._t.orders[order_id] for order_id in ids[:limit]]

    async def awaiting_provider(self, statuses: Iterable[str], methods: Iterable[str]) -> list[int]:
        wanted, paid_by = set(statuses), set(methods)
        return self._ids(lambda o: o.status in wanted and o.payment_method in paid_by)

    @staticmethod
    def _outcome_free(order: OrderRecord, now: datetime) -> bool:
        return order.outcome_claimed_until is None or order.outcome_claimed_until <= now

    async def unnotified(
        self, statuses: Iterable[str], limit: int, now: datetime
    ) -> list[OrderRecord]:
        wanted = set(statuses)
        ids = self._ids(
            lambda o: o.status in wanted and not o.outcome_notified and self._outcome_free(o, now)
        )
        return [self._t.orders[order_id] for order_id in ids[:limit]]

    async def claim_outcome(self, order_id: int, now: datetime, until: datetime) -> bool:
        order = self._t.orders.get(order_id)
        if order is None or order.outcome_notified or not self._outcome_free(order, now):
            return False
        self._set(order_id, outcome_claimed_until=until)
        return True

    async def outcome_told(self, order_id: int) -> None:
        if order_id in self._t.orders:
            self._set(order_id, outcome_notified=True, outcome_claimed_until=None)

    async def release_outcome(self, order_id: int) -> None:
        order = self._t.orders.get(order_id)
        if order is not None and not order.outcome_notified:
            self._set(order_id, outcome_claimed_until=None)

    async def anonymise_phones(self, customer_id: int) -> None:
        for order in list(self._t.orders.values()):
            digits = order.phone_digits
            if order.customer_id == customer_id and digits is not None and "*" not in digits:
                self._set(order.id, phone_digits=digits[:3] + "****" + digits[7:11])


class FakePaymentRepository(_Repository):
    async def add(self, order_id: int, payment: NewPayment) -> int:
        if payment.amount_fen is None or payment.currency is None:
            raise ValueError("a payment is kept with its amount and currency")
        for kept in self._t.payments.values():
            if kept.order_id == order_id or (
                payment.telegram_charge_id is not None
                and kept.telegram_charge_id == payment.telegram_charge_id
            ):
                raise RecordConflict(f"payments: order {order_id} is paid already")
        payment_id = self._t.next_id("payments")
        self._t.payments[payment_id] = PaymentRecord(
            id=payment_id,
            order_id=order_id,
            method=payment.method,
            amount_fen=payment.amount_fen,
            currency=payment.currency,
            reference=payment.reference,
            telegram_charge_id=payment.telegram_charge_id,
            captured_at=payment.captured_at,
            refunded_at=None,
            refund_route=None,
        )
        return payment_id

    async def of_order(self, order_id: int) -> PaymentRecord | None:
        return next((p for p in self._t.payments.values() if p.order_id == order_id), None)

    async def by_telegram_charge(self, charge_id: str) -> PaymentRecord | None:
        found = (p for p in self._t.payments.values() if p.telegram_charge_id == charge_id)
        return next(found, None)

    async def latest_of_customer(self, customer_id: int) -> int | None:
        orders = {o.id for o in self._t.orders.values() if o.customer_id == customer_id}
        return max((p.id for p in self._t.payments.values() if p.order_id in orders), default=None)

    async def mark_refunded(self, order_id: int, at: datetime, route: str) -> bool:
        payment = await self.of_order(order_id)
        if payment is None or payment.refunded_at is not None:
            return False
        self._t.payments[payment.id] = replace(payment, refunded_at=at, refund_route=route)
        return True

    async def claim_refund(self, order_id: int, at: datetime, stale_before: datetime) -> bool:
        payment = await self.of_order(order_id)
        if payment is None or payment.refunded_at is not None:
            return False
        if payment.refund_claimed_at is not None and payment.refund_claimed_at >= stale_before:
            return False
        self._t.payments[payment.id] = replace(payment, refund_claimed_at=at)
        return True

    async def release_refund_claim(self, order_id: int, claimed_at: datetime) -> bool:
        payment = await self.of_order(order_id)
        if payment is None or payment.refunded_at is not None:
            return False
        if payment.refund_claimed_at != claimed_at:
            return False
        self._t.payments[payment.id] = replace(payment, refund_claimed_at=None)
        return True


class FakeAuditTrail(_Repository):
    async def append(self, entry: AuditEntry, at: datetime) -> None:
        record_id = self._t.next_id("audit")
        kept = replace(
            entry,
            actor_name=entry.actor_name[:128],
            subject=entry.subject[:64],
            detail=entry.detail[:255],
        )
        self._t.audit[record_id] = AuditRecord(record_id, at, kept)

    async def recent(self, limit: int, before_id: int | None = None) -> list[AuditRecord]:
        found = [r for r in self._t.audit.values() if before_id is None or r.id < before_id]
        return sorted(found, key=lambda r: r.id, reverse=True)[:limit]

    async def within(self, start: datetime, end: datetime, limit: int) -> list[AuditRecord]:
        found = [r for r in self._t.audit.values() if start <= r.at < end]
        return sorted(found, key=lambda r: r.id, reverse=True)[:limit]

    async def actors(self, action: str, subject: str) -> set[int]:
        return {
            r.entry.actor_id
            for r in self._t.audit.values()
            if r.entry.action.value == action and r.entry.subject == subject
        }

    async def all_in_order(self) -> AsyncIterator[AuditRecord]:
        for record_id in sorted(self._t.audit):
            yield self._t.audit[record_id]


class FakePrivacyRepository(_Repository):
    async def forget_chats(self, customer_id: int) -> None:
        """Orders keep no chat, reminder subscriptions go, reminders and pushes not sent yet
        are skipped and the record of those sent keeps no chat, survey comments are erased (as
        the SQL repository; tickets: `FakeSupportRepository.erase_customer`)."""
        t = self._t
        for order in list(t.orders.values()):
            if order.customer_id == customer_id and order.chat_id is not None:
                t.orders[order.id] = replace(order, chat_id=None)
        for s in list(t.reminder_subscriptions.values()):
            if s.customer_id == customer_id:
                del t.reminder_subscriptions[s.id]
        for r in list(t.reminder_outbox.values()):
            if r.customer_id == customer_id:
                if r.status == PLANNED:
                    r = replace(r, status=SKIPPED, reason=ERASED_REASON)
                t.reminder_outbox[r.id] = replace(r, chat_id=NO_CHAT)
        for p in list(t.pushes.values()):
            if p.customer_id == customer_id:
                if p.status == PLANNED:
                    p = replace(p, status=SKIPPED, reason=PushSkip.ERASED.value)
                t.pushes[p.id] = replace(p, chat_id=NO_CHAT)
        for a in list(t.survey_answers.values()):
            if a.customer_id == customer_id and a.comment is not None:
                t.survey_answers[a.id] = replace(a, comment=ERASED_TEXT)

    async def inactive_customers(self, since: datetime, limit: int) -> list[int]:
        t = self._t
        lively = (
            {o.customer_id for o in t.orders.values() if o.updated_at >= since}
            | {k.customer_id for k in t.tickets.values() if k.updated_at >= since}
            | {e.customer_id for e in t.wallet_entries.values() if e.at >= since}
            | {c for c, wallet in t.wallets.items() if wallet.balance_fen != 0}
        )
        chatting = {s.telegram_id for s in t.conversations.values() if s.updated_at >= since}
        return sorted(
            c.id
            for c in t.customers.values()
            if c.erased_at is None
            and c.last_seen_at < since
            and c.id not in lively
            and c.telegram_id not in chatting
        )[:limit]

    async def forget_secrets(self, customer_id: int) -> None:
        self._t.pins.pop(customer_id, None)

    async def personal_data(self, customer_id: int, ticket_texts: Sequence[str]) -> PersonalData:
        """A customer's copy of their data is every table's columns, read on the databases
        only (`tests/integration/test_data_export.py`)."""
        raise NotImplementedError("personal data is read on the databases only")


class FakeConsentRepository(_Repository):
    async def accepted(self, customer_id: int) -> bool:
        return customer_id in self._t.consents

    async def accept(self, customer_id: int, marketing: bool, at: datetime) -> None:
        kept = self._t.consents.get(customer_id)
        self._t.consents[customer_id] = Consent(kept.accepted_at if kept else at, marketing)


class FakePinRepository(_Repository):
    async def get(self, customer_id: int) -> PinRecord | None:
        return self._t.pins.get(customer_id)

    async def set(self, customer_id: int, pin_hash: str, at: datetime) -> None:
        self._t.pins[customer_id] = PinRecord(customer_id, pin_hash, 0, None, at)

    def _change(self, customer_id: int, **values: object) -> None:
        pin = self._t.pins.get(customer_id)
        if pin is not None:
            self._t.pins[customer_id] = replace(pin, **values)  # type: ignore[arg-type]

    async def count_wrong(self, customer_id: int) -> int:
        pin = self._t.pins.get(customer_id)
        if pin is None:
            raise LookupError(f"customer {customer_id} has no PIN")
        self._change(customer_id, wrong_tries=pin.wrong_tries + 1)
        return pin.wrong_tries + 1

    async def lock(self, customer_id: int, until: datetime) -> None:
        self._change(customer_id, wrong_tries=0, locked_until=until)

    async def right(self, customer_id: int) -> None:
        self._change(customer_id, wrong_tries=0)

    async def remove(self, customer_id: int) -> None:
        self._t.pins.pop(customer_id, None)

    async def verified_number(self, customer_id: int, digits: str) -> bool:
        return (customer_id, digits) in self._t.verified_phones


class FakeDashboardTokenRepository(_Repository):
    def add(
        self, token_hash: str, kind: str, telegram_id: int, at: datetime, until: datetime
    ) -> None:
        if token_hash in self._t.dashboard_tokens:
            self._uow.check_later(_Raise("dashboard_tokens", token_hash))
            return
        self._t.dashboard_tokens[token_hash] = DashboardToken(kind, telegram_id, at, until, None)

    def _valid(self, token_hash: str, kind: str, now: datetime) -> DashboardToken | None:
        token = self._t.dashboard_tokens.get(token_hash)
        if token is None or token.kind != kind or token.used_at is not None:
            return None
        return token if token.expires_at > now else None

    async def use(self, token_hash: str, kind: str, now: datetime) -> int | None:
        token = self._valid(token_hash, kind, now)
        if token is None:
            return None
        self._t.dashboard_tokens[token_hash] = replace(token, used_at=now)
        return token.telegram_id

    async def holder(self, token_hash: str, kind: str, now: datetime) -> int | None:
        token = self._valid(token_hash, kind, now)
        return token.telegram_id if token is not None else None

    async def forget_expired(self, now: datetime) -> None:
        for token_hash, token in list(self._t.dashboard_tokens.items()):
            if token.expires_at <= now:
                del self._t.dashboard_tokens[token_hash]


class FakeStaffDigestRepository(_Repository):
    async def claim(self, day: str, now: datetime, until: datetime) -> bool:
        claimed_until, sent_at = self._t.staff_digests.get(day, (None, None))
        if sent_at is not None or (claimed_until is not None and claimed_until > now):
            return False
        self._t.staff_digests[day] = (until, None)
        return True

    async def sent(self, day: str, message_id: int | None, at: datetime) -> None:
        self._t.staff_digests[day] = (None, at)

    async def release(self, day: str) -> None:
        if self._t.staff_digests.get(day, (None, None))[1] is None:
            self._t.staff_digests[day] = (None, None)


class FakeCustomerRepository(_Repository):
    async def turn(self, telegram_id: int, chat_id: int) -> TurnRecord | None:
        customer = await self.by_telegram_id(telegram_id)
        if customer is None:
            return None
        state = self._t.conversations.get((chat_id, telegram_id))
        return TurnRecord(
            id=customer.id,
            telegram_id=telegram_id,
            first_name=customer.first_name,
            last_name=customer.last_name,
            username=customer.username,
            language=customer.language,
            registered_at=customer.registered_at,
            last_seen_at=customer.last_seen_at,
            conversation_id=hash((chat_id, telegram_id)) if state is not None else None,
            step=state.step if state is not None else None,
            data=dict(state.data) if state is not None else None,
            consented=customer.id in self._t.consents,
            pin_set=customer.id in self._t.pins,
        )

    async def by_telegram_id(self, telegram_id: int) -> CustomerRecord | None:
        for customer in self._t.customers.values():
            if customer.telegram_id == telegram_id:
                return customer
        return None

    async def get(self, customer_id: int) -> CustomerRecord | None:
        return self._t.customers.get(customer_id)

    async def languages(self, customer_ids: Iterable[int]) -> dict[int, str]:
        found = (self._t.customers.get(customer_id) for customer_id in set(customer_ids))
        return {c.id: c.language for c in found if c is not None and c.erased_at is None}

    async def register(self, customer: NewCustomer) -> CustomerRecord:
        if await self.by_telegram_id(customer.telegram_id) is not None:
            raise RecordConflict(f"customers: telegram id {customer.telegram_id} exists")
        customer_id = self._t.next_id("customers")
        record = CustomerRecord(
            id=customer_id,
            telegram_id=customer.telegram_id,
            first_name=customer.first_name,
            last_name=customer.last_name,
            username=customer.username,
            language=customer.language,
            registered_at=customer.at,
            last_seen_at=customer.at,
            erased_at=None,
        )
        self._t.customers[customer_id] = record
        return record

    def _set(self, customer_id: int, **values: object) -> None:
        customer = self._t.customers.get(customer_id)
        if customer is not None:
            self._t.customers[customer_id] = replace(customer, **values)  # type: ignore[arg-type]

    async def rename(
        self,
        customer_id: int,
        first_name: str | None,
        last_name: str | None,
        username: str | None,
        at: datetime,
    ) -> None:
        self._set(
            customer_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            last_seen_at=at,
        )

    async def set_language(self, customer_id: int, language: str) -> None:
        self._set(customer_id, language=language)

    async def seen(self, customer_id: int, at: datetime, unless_since: datetime) -> None:
        customer = self._t.customers[customer_id]
        if customer.last_seen_at < unless_since:
            self._set(customer_id, last_seen_at=at)

    async def erase(self, customer_id: int, at: datetime) -> None:
        self._set(
            customer_id,
            telegram_id=None,
            first_name=None,
            last_name=None,
            username=None,
            erased_at=at,
        )


class FakePhoneBindingRepository(_Repository):
    async def of_customer(self, customer_id: int) -> list[PhoneBindingRecord]:
        theirs = [p for p in self._t.phones.values() if p.customer_id == customer_id]
        return sorted(theirs, key=lambda p: (p.bound_at, p.id))

    async def bind(
        self, customer_id: int, digits: str, carrier: str, at: datetime, *, verified: bool = False
    ) -> PhoneBindingRecord | None:
        customer = self._t.customers.get(customer_id)
        if customer is None or customer.erased_at is not None:
            return None
        if any(p.digits == digits for p in await self.of_customer(customer_id)):
            raise RecordConflict(f"phone_bindings: {customer_id}, {digits} exists")
        binding_id = self._t.next_id("phones")
        record = PhoneBindingRecord(binding_id, customer_id, digits, carrier, at)
        self._t.phones[binding_id] = record
        if verified:
            self._t.verified_phones.add((customer_id, digits))
        return record

    async def remove(self, customer_id: int, binding_id: int) -> bool:
        found = self._t.phones.get(binding_id)
        if found is None or found.customer_id != customer_id:
            return False
        del self._t.phones[binding_id]
        self._t.verified_phones.discard((customer_id, found.digits))
        return True

    async def remove_all(self, customer_id: int) -> None:
        for binding in await self.of_customer(customer_id):
            del self._t.phones[binding.id]
            self._t.verified_phones.discard((customer_id, binding.digits))

    async def mark_verified(self, customer_id: int, digits: str) -> None:
        if any(p.digits == digits for p in await self.of_customer(customer_id)):
            self._t.verified_phones.add((customer_id, digits))


class FakeConversationRepository(_Repository):
    async def find(self, chat_id: int, telegram_id: int) -> ConversationRecord | None:
        return self._t.conversations.get((chat_id, telegram_id))

    async def upsert(
        self, chat_id: int, telegram_id: int, step: str, data: dict[str, object], at: datetime
    ) -> None:
        state = ConversationRecord(chat_id, telegram_id, step, copy.deepcopy(data), at)
        self._t.conversations[(chat_id, telegram_id)] = state

    async def forget_user(self, telegram_id: int) -> None:
        for key in [k for k in self._t.conversations if k[1] == telegram_id]:
            del self._t.conversations[key]

    async def reset_idle_since(self, cutoff: datetime, idle_step: str) -> int:
        idle = [
            key
            for key, state in self._t.conversations.items()
            if state.updated_at < cutoff and state.step != idle_step
        ]
        for key in idle:
            self._t.conversations[key] = replace(
                self._t.conversations[key], step=idle_step, data={}, updated_at=cutoff
            )
        return len(idle)


class FakeSupportRepository(_Repository):
    # -- suggestions and ratings --------------------------------------------------------------
    def add_suggestion(self, customer_id: int, text: str, at: datetime) -> None:
        suggestion_id = self._t.next_id("suggestions")
        self._t.suggestions[suggestion_id] = Suggestion(suggestion_id, customer_id, text, at)

    def add_rating(self, order_id: int, customer_id: int, stars: int, at: datetime) -> None:
        if order_id in self._t.ratings:
            self._uow.check_later(_Raise("order_ratings", order_id))
            return
        self._t.ratings[order_id] = OrderRatingRecord(order_id, customer_id, stars, None, at)

    async def rating(self, order_id: int) -> OrderRatingRecord | None:
        return self._t.ratings.get(order_id)

    async def comment_rating(self, customer_id: int, order_id: int, comment: str) -> bool:
        rating = self._t.ratings.get(order_id)
        if rating is None or rating.customer_id != customer_id or rating.comment is not None:
            return False
        self._t.ratings[order_id] = replace(rating, comment=comment)
        return True

    # -- tickets ------------------------------------------------------------------------------
    async def open_ticket(self, ticket: NewTicket) -> TicketRecord:
        ticket_id = self._t.next_id("tickets")
        record = TicketRecord(
            id=ticket_id,
            customer_id=ticket.customer_id,
            chat_id=ticket.chat_id,
            category=ticket.category,
            priority=ticket.priority,
            status=ticket.status,
            order_id=ticket.order_id,
            assignee_id=None,
            thread_id=None,
            created_at=ticket.at,
            updated_at=ticket.at,
            first_response_at=None,
            first_response_seconds=None,
            resolved_at=None,
            closed_at=None,
            waiting_since=ticket.at,
            escalated_at=None,
            csat=None,
            csat_at=None,
        )
        self._t.tickets[ticket_id] = record
        return record

    async def add_message(self, message: NewTicketMessage) -> None:
        message_id = self._t.next_id("messages")
        self._t.messages[message_id] = TicketMessageRecord(
            id=message_id,
            ticket_id=message.ticket_id,
            kind=message.kind,
            author_id=message.author_id,
            text=message.text,
            source_chat_id=message.source_chat_id,
            source_message_id=message.source_message_id,
            destination=message.destination,
            to_chat_id=message.to_chat_id,
            created_at=message.at,
            claimed_at=None,
            delivered=False,
            sent_at=None,
            sent_chat_id=None,
            sent_message_id=None,
        )
        if message.source_message_id is not None:
            key = (message.source_chat_id, message.source_message_id)
            self._uow.check_later(_Unique("messages", key, ("source_chat_id", "source_message_id")))

    async def ticket(self, ticket_id: int) -> TicketRecord | None:
        return self._t.tickets.get(ticket_id)

    async def tickets_by_id(self, ticket_ids: Iterable[int]) -> dict[int, TicketRecord]:
        found = {i: self._t.tickets.get(i) for i in set(ticket_ids)}
        return {ticket_id: ticket for ticket_id, ticket in found.items() if ticket is not None}

    async def own_ticket(self, customer_id: int, ticket_id: int) -> TicketRecord | None:
        found = self._t.tickets.get(ticket_id)
        return found if found is not None and found.customer_id == customer_id else None

    async def tickets_of(self, customer_id: int, limit: int) -> list[TicketRecord]:
        mine = [t for t in self._t.tickets.values() if t.customer_id == customer_id]
        return sorted(mine, key=lambda t: t.id, reverse=True)[:limit]

    async def tickets(self, statuses: Iterable[str], limit: int) -> list[TicketRecord]:
        wanted = set(statuses)
        found = [t for t in self._t.tickets.values() if t.status in wanted]
        return sorted(found, key=lambda t: (t.priority, t.id))[:limit]

    async def opened_since(self, since: datetime) -> list[TicketRecord]:
        return [t for t in self._t.tickets.values() if t.created_at >= since]

    async def first_response_average(self, since: datetime) -> float | None:
        waits = [
            t.first_response_seconds
            for t in self._t.tickets.values()
            if t.created_at >= since and t.first_response_seconds is not None
        ]
        return sum(waits) / len(waits) if waits else None

    def _update(self, ticket_id: int, condition: bool, **values: object) -> bool:
        if not condition:
            return False
        ticket = self._t.tickets[ticket_id]
        self._t.tickets[ticket_id] = replace(ticket, **values)  # type: ignore[arg-type]
        return True

    async def move(
        self,
        ticket_id: int,
        sources: Iterable[str],
        target: str,
        at: datetime,
        *,
        unassigned: bool = False,
        **values: object,
    ) -> bool:
        ticket = self._t.tickets.get(ticket_id)
        return ticket is not None and self._update(
            ticket_id,
            ticket.status in set(sources) and (not unassigned or ticket.assignee_id is None),
            status=target,
            updated_at=at,
            **values,
        )

    async def rate(self, ticket_id: int, stars: int, at: datetime) -> bool:
        ticket = self._t.tickets.get(ticket_id)
        return ticket is not None and self._update(
            ticket_id,
            ticket.csat is None and ticket.resolved_at is not None,
            csat=stars,
            csat_at=at,
        )

    async def take_if_unassigned(
        self, ticket_id: int, staff_id: int, statuses: Iterable[str], at: datetime
    ) -> bool:
        ticket = self._t.tickets.get(ticket_id)
        return ticket is not None and self._update(
            ticket_id,
            ticket.assignee_id is None and ticket.status in set(statuses),
            assignee_id=staff_id,
            updated_at=at,
        )

    @staticmethod
    def _due(ticket: TicketRecord, waiting_since_before: datetime) -> bool:
        return (
            ticket.waiting_since is not None
            and ticket.waiting_since <= waiting_since_before
            and (ticket.escalated_at is None or ticket.escalated_at < ticket.waiting_since)
        )

    async def escalate(self, ticket_id: int, waiting_since_before: datetime, at: datetime) -> bool:
        ticket = self._t.tickets.get(ticket_id)
        return ticket is not None and self._update(
            ticket_id, self._due(ticket, waiting_since_before), escalated_at=at
        )

    async def set_topic(self, ticket_id: int, thread_id: int) -> bool:
        ticket = self._t.tickets.get(ticket_id)
        return ticket is not None and self._update(
            ticket_id, ticket.thread_id is None, thread_id=thread_id
        )

    async def unanswered(self, waited_since: datetime, statuses: Iterable[str]) -> list[int]:
        wanted = set(statuses)
        return [
            t.id
            for t in self._t.tickets.values()
            if t.status in wanted and self._due(t, waited_since)
        ]

    async def resolved_before(self, before: datetime) -> list[int]:
        return [
            t.id
            for t in self._t.tickets.values()
            if t.status == "resolved" and t.resolved_at is not None and t.resolved_at <= before
        ]

    async def without_topic(self) -> list[int]:
        waiting = {
            m.ticket_id
            for m in self._t.messages.values()
            if m.destination == "staff" and not m.delivered
        }
        return sorted(t for t in waiting if self._t.tickets[t].thread_id is None)

    # -- messages -----------------------------------------------------------------------------
    async def message(self, message_id: int) -> TicketMessageRecord | None:
        return self._t.messages.get(message_id)

    @staticmethod
    def _claimable(message: TicketMessageRecord, stale_before: datetime) -> bool:
        return not message.delivered and (
            message.claimed_at is None or message.claimed_at < stale_before
        )

    async def pending(self, stale_before: datetime, limit: int) -> list[TicketMessageRecord]:
        found = [m for m in self._t.messages.values() if self._claimable(m, stale_before)]
        return sorted(found, key=lambda m: m.id)[:limit]

    async def claim(self, message_id: int, at: datetime, stale_before: datetime) -> bool:
        message = self._t.messages.get(message_id)
        if message is None or not self._claimable(message, stale_before):
            return False
        self._t.messages[message_id] = replace(message, claimed_at=at)
        return True

    async def set_message(self, message_id: int, **values: object) -> None:
        message = self._t.messages.get(message_id)
        if message is None:
            return
        changed = replace(message, **values)  # type: ignore[arg-type]
        self._t.messages[message_id] = changed
        if "sent_message_id" in values and changed.sent_message_id is not None:
            key = (changed.sent_chat_id, changed.sent_message_id)
            taken = [
                m for m in self._t.messages.values() if (m.sent_chat_id, m.sent_message_id) == key
            ]
            if len(taken) > 1:
                raise RecordConflict(f"ticket_messages: sent {key} exists")

    async def ticket_of_sent(self, chat_id: int, message_id: int) -> int | None:
        for m in self._t.messages.values():
            if m.sent_chat_id == chat_id and m.sent_message_id == message_id:
                return m.ticket_id
        return None

    async def transcript(self, ticket_id: int, kinds: Iterable[str]) -> list[TicketMessageRecord]:
        wanted = set(kinds)
        found = [
            m for m in self._t.messages.values() if m.ticket_id == ticket_id and m.kind in wanted
        ]
        return sorted(found, key=lambda m: m.id)

    async def card_message(self, ticket_id: int) -> tuple[int, int] | None:
        for m in sorted(self._t.messages.values(), key=lambda m: m.id):
            if (
                m.ticket_id == ticket_id
                and m.kind == "card"
                and m.destination == "staff"
                and m.sent_message_id is not None
            ):
                if m.sent_chat_id is None:
                    return None
                return m.sent_chat_id, m.sent_message_id
        return None

    # -- erasure ------------------------------------------------------------------------------
    async def erase_customer(self, customer_id: int, marker: str, texts: Iterable[str]) -> None:
        kinds = set(texts)
        theirs = {t.id for t in self._t.tickets.values() if t.customer_id == customer_id}
        for m in list(self._t.messages.values()):
            if m.ticket_id not in theirs:
                continue
            if m.kind in kinds:
                m = replace(m, text=marker)
            if m.destination == "customer" or (
                m.kind == "customer" and m.source_message_id is not None
            ):
                m = replace(
                    m,
                    source_chat_id=None,
                    source_message_id=None,
                    sent_chat_id=None,
                    sent_message_id=None,
                )
            self._t.messages[m.id] = m
        for ticket_id in theirs:
            self._t.tickets[ticket_id] = replace(self._t.tickets[ticket_id], chat_id=0)
        for s in list(self._t.suggestions.values()):
            if s.customer_id == customer_id:
                self._t.suggestions[s.id] = replace(s, text=marker)
        for r in list(self._t.ratings.values()):
            if r.customer_id == customer_id and r.comment is not None:
                self._t.ratings[r.order_id] = replace(r, comment=marker)

    # -- flood quota --------------------------------------------------------------------------
    async def open_quota(self, customer_id: int, window_start: datetime) -> None:
        self._t.quota.setdefault((customer_id, window_start), 0)

    async def use_quota(self, customer_id: int, window_start: datetime, limit: int) -> bool:
        key = (customer_id, window_start)
        used = self._t.quota.get(key)
        if used is None or used >= limit:
            return False
        self._t.quota[key] = used + 1
        return True

    # -- staff roles --------------------------------------------------------------------------
    async def role(self, telegram_id: int) -> str | None:
        found = self._t.roles.get(telegram_id)
        return found[0] if found is not None else None

    async def with_role(self, role: str) -> list[int]:
        return [telegram_id for telegram_id, (r, _) in self._t.roles.items() if r == role]

    async def grant(self, telegram_id: int, role: str, at: datetime) -> None:
        self._t.roles[telegram_id] = (role, at)

    async def revoke(self, telegram_id: int) -> bool:
        return self._t.roles.pop(telegram_id, None) is not None


class FakeWalletRepository(_Repository):
    async def open(self, customer_id: int, currency: str) -> None:
        if customer_id in self._t.wallets:
            raise RecordConflict(f"wallets: {customer_id} exists")
        self._t.wallets[customer_id] = Wallet(0, currency)

    async def balance(self, customer_id: int) -> int:
        wallet = self._t.wallets.get(customer_id)
        return wallet.balance_fen if wallet is not None else 0

    async def ledger_sum(self, customer_id: int) -> int:
        return sum(
            e.amount_fen for e in self._t.wallet_entries.values() if e.customer_id == customer_id
        )

    async def entries(self, customer_id: int, limit: int) -> list[WalletEntryRecord]:
        theirs = [e for e in self._t.wallet_entries.values() if e.customer_id == customer_id]
        return sorted(theirs, key=lambda e: e.id, reverse=True)[:limit]

    async def has_entry(self, key: str) -> bool:
        return any(e.idempotency_key == key for e in self._t.wallet_entries.values())

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
        wallet = self._t.wallets.get(customer_id)
        if wallet is None or wallet.balance_fen + amount_fen < 0:
            return False
        if await self.has_entry(key):
            raise RecordConflict(f"wallet_entries: {key} exists")
        self._t.wallets[customer_id] = replace(wallet, balance_fen=wallet.balance_fen + amount_fen)
        entry_id = self._t.next_id("wallet_entries")
        self._t.wallet_entries[entry_id] = WalletEntryRecord(
            entry_id, customer_id, amount_fen, currency, kind, order_id, key, at
        )
        return True


class FakeCampaignFileRepository(_Repository):
    """Loads into the same campaigns, offers and rewards the money repositories read."""

    async def save_campaign(self, campaign: CampaignToLoad) -> int:
        kept = next((c for c in self._t.campaigns.values() if c.code == campaign.code), None)
        campaign_id = kept.id if kept is not None else self._t.next_id("campaigns")
        values = {f.name: getattr(campaign, f.name) for f in fields(CampaignToLoad)}
        for name in ("starts_at", "ends_at", "loaded_at"):
            values[name] = utc(values[name])
        self._t.campaigns[campaign_id] = FakeCampaign(campaign_id, **values)
        return campaign_id

    def _offer(self, code: str) -> FakeOffer | None:
        return next((o for o in self._t.offers.values() if o.code == code), None)

    async def offer(self, code: str) -> LoadedOffer | None:
        kept = self._offer(code)
        return LoadedOffer(kept.campaign_id, kept.used) if kept is not None else None

    async def save_offer(self, offer: OfferToLoad) -> None:
        kept = self._offer(offer.code)
        if kept is None:
            kept = FakeOffer(self._t.next_id("offers"), offer.campaign_id, offer.code)
        values = {f.name: getattr(offer, f.name) for f in fields(OfferToLoad)}
        self._t.offers[kept.id] = replace(kept, **values)

    def _reward(self, code: str) -> FakeReward | None:
        return next((r for r in self._t.rewards.values() if r.code == code), None)

    async def redeemed(self, reward_code: str) -> int | None:
        kept = self._reward(reward_code)
        return kept.redeemed if kept is not None else None

    async def save_reward(self, reward: RewardToLoad) -> None:
        values = {f.name: getattr(reward, f.name) for f in fields(RewardToLoad)}
        kept = self._reward(reward.code)
        if kept is None:
            reward_id = self._t.next_id("rewards")
            self._t.rewards[reward_id] = FakeReward(reward_id, **values)
        else:
            self._t.rewards[kept.id] = replace(kept, **values)

    async def product_kind(self, code: str) -> str | None:
        found = (p.kind for p in self._t.products.values() if p.code == code)
        return next(found, None)


class FakeHoldoutBuckets:
    """Customers' hold-out buckets kept (of this unit of work): the first kept stays."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, int], int] = {}

    async def keep(self, campaign_code: str, buckets: Iterable[tuple[int, int]]) -> None:
        for customer_id, bucket in buckets:
            self.kept.setdefault((campaign_code, customer_id), bucket)


class FakeRollups:
    """The dashboard's roll-ups are the database's (see `FakeFigureReader`): nothing to fold."""

    async def pending(self) -> bool:
        return False

    async def fold(self) -> int:
        return 0


class FakeOffersSeen:
    """The first time each customer saw each campaign's offers (of this unit of work)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, int], datetime] = {}

    async def record(self, customer_id: int, campaign_ids: Iterable[int], at: datetime) -> None:
        for campaign_id in campaign_ids:
            self.seen.setdefault((campaign_id, customer_id), at)


class FakeFigureReader:
    """The dashboard's figures are aggregates the database computes; they are tested on both
    databases (`tests/dashboard/test_figures.py`), and a service test on the fake that asks for
    one is told so."""

    def _not_here(self) -> NotImplementedError:
        return NotImplementedError("dashboard figures are read on the databases only")

    async def orders_by_status(self) -> dict[OrderStatus, int]:
        raise self._not_here()

    async def sales_by_hour(
        self, period: Period, campaign_id: int | None = None
    ) -> list[HourlySales]:
        raise self._not_here()

    async def sales(self, period: Period, campaign_id: int | None = None) -> Sales:
        raise self._not_here()

    async def reached(self, period: Period) -> tuple[int, int, int]:
        raise self._not_here()

    async def funnel(self, period: Period, campaign_id: int | None = None) -> Funnel:
        raise self._not_here()

    async def campaigns(self) -> list[tuple[int, str, str, str, datetime, datetime]]:
        raise self._not_here()

    async def offers(self, period: Period, campaign_id: int | None = None) -> list[OfferFigures]:
        raise self._not_here()

    async def points(self, period: Period) -> PointsFigures:
        raise self._not_here()

    async def referrals(self, period: Period, campaign_code: str | None = None) -> ReferralFigures:
        raise self._not_here()

    async def holdout_groups(
        self, period: Period, campaign_code: str, control_buckets: int
    ) -> tuple[GroupOutcome, GroupOutcome, list[int]]:
        raise self._not_here()

    async def holdout_percent(self, campaign_id: int) -> tuple[str, int] | None:
        raise self._not_here()

    async def tickets(self, period: Period) -> list[TicketRecord]:
        raise self._not_here()


class FakePushFigureReader:
    """Reminders and pushes figures are read on the databases only, as the other figures."""

    def _not_here(self) -> NotImplementedError:
        return NotImplementedError("dashboard figures are read on the databases only")

    async def reminders_sent(self, period: Period, campaign_id: int | None) -> list[SentMessage]:
        raise self._not_here()

    async def broadcasts_sent(self, period: Period, campaign_id: int | None) -> list[SentMessage]:
        raise self._not_here()

    async def broadcast_texts(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        raise self._not_here()
