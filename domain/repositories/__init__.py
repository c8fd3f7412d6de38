"""What services may ask of the unit of work: its repositories as typed protocols, and the
frozen records they return.

The SQLAlchemy repositories (`domain/persistence/`) implement these protocols, and so do the
in-memory ones of the fake unit of work the service tests run on (`tests/fakes/`); one contract
test suite (`tests/contracts/`) holds both to the same behaviour. Nothing here knows of a
session, an ORM row or a SQL statement. Features with repositories of their own keep them in a
module of this package (`domain.repositories.pins`, …); the unit of work below names them all.

Conventions every implementation keeps:
- A repository never commits; the unit of work does (`commit()`), and nothing of a unit of work
  that was not committed is kept.
- A write that breaks a unique key raises `domain.errors.RecordConflict`, at the latest when the
  unit of work commits (then nothing of it is kept).
- A conditional write (`move`, `claim`, `use_quota`, `post`, ...) says whether it applied: of
  concurrent attempts, only those whose condition held when they wrote apply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from domain.allowances import Take
from domain.audit import AuditEntry, AuditRecord
from domain.privacy import PersonalData
from domain.repositories.campaign_files import CampaignFileRepository
from domain.repositories.consents import ConsentRepository
from domain.repositories.dashboard import DashboardTokenRepository, StaffDigestRepository
from domain.repositories.figures import (
    FigureReader,
    HoldoutBucketKeeper,
    OffersSeenRecorder,
    PushFigureReader,
    RollupFolder,
)
from domain.repositories.pins import PinRepository

# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketRecord:
    """A support ticket as stored (`domain.tickets.Ticket` is what the service makes of it)."""

    id: int
    customer_id: int
    chat_id: int
    category: str
    priority: str
    status: str
    order_id: int | None
    assignee_id: int | None
    thread_id: int | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    # How long the customer waited for that first response, in whole seconds.
    first_response_seconds: int | None
    resolved_at: datetime | None
    closed_at: datetime | None
    waiting_since: datetime | None
    escalated_at: datetime | None
    csat: int | None
    csat_at: datetime | None


@dataclass(frozen=True)
class NewTicket:
    customer_id: int
    chat_id: int
    category: str
    priority: str
    status: str
    order_id: int | None
    at: datetime


@dataclass(frozen=True)
class TicketMessageRecord:
    """One message of a ticket: the transcript, and the outbox that delivers it once."""

    id: int
    ticket_id: int
    kind: str
    author_id: int | None
    text: str
    source_chat_id: int | None
    source_message_id: int | None
    destination: str
    to_chat_id: int | None
    created_at: datetime
    claimed_at: datetime | None
    delivered: bool
    sent_at: datetime | None
    sent_chat_id: int | None
    sent_message_id: int | None


@dataclass(frozen=True)
class NewTicketMessage:
    """A message to keep with its ticket; one that came in (`source_message_id` set) is kept
    once per source (a second is a `RecordConflict`)."""

    ticket_id: int
    kind: str
    destination: str
    at: datetime
    text: str = ""
    author_id: int | None = None
    to_chat_id: int | None = None
    source_chat_id: int | None = None
    source_message_id: int | None = None


@dataclass(frozen=True)
class OrderRatingRecord:
    order_id: int
    customer_id: int
    stars: int
    comment: str | None
    at: datetime


@dataclass(frozen=True)
class WalletEntryRecord:
    """One entry of a wallet's ledger: what moved its balance, once per idempotency key."""

    id: int
    customer_id: int
    amount_fen: int
    currency: str
    kind: str
    order_id: int | None
    idempotency_key: str
    at: datetime


@dataclass(frozen=True)
class CustomerRecord:
    id: int
    telegram_id: int | None  # None once they erased their personal data
    first_name: str | None
    last_name: str | None
    username: str | None
    language: str
    registered_at: datetime
    last_seen_at: datetime
    erased_at: datetime | None


@dataclass(frozen=True)
class NewCustomer:
    telegram_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    language: str
    at: datetime


@dataclass(frozen=True)
class TurnRecord:
    """A customer with their conversation in one chat (`conversation_id` None: none yet),
    whether they agreed to the privacy notice and whether they set a payment PIN."""

    id: int
    telegram_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    language: str
    registered_at: datetime
    last_seen_at: datetime
    conversation_id: int | None
    step: str | None
    data: dict[str, object] | None
    consented: bool
    pin_set: bool


@dataclass(frozen=True)
class ConversationRecord:
    chat_id: int
    telegram_id: int
    step: str
    data: dict[str, object]
    updated_at: datetime


@dataclass(frozen=True)
class PhoneBindingRecord:
    id: int
    customer_id: int
    digits: str
    carrier: str
    bound_at: datetime


@dataclass(frozen=True)
class NewPayment:
    """A payment captured at `captured_at`; its order, amount and currency are set where it is
    kept (the amount charged, or the order's)."""

    method: str
    reference: str | None
    captured_at: datetime
    telegram_charge_id: str | None = None
    amount_fen: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class PaymentRecord:
    """The one payment of an order, and its refund."""

    id: int
    order_id: int
    method: str
    amount_fen: int
    currency: str
    reference: str | None
    telegram_charge_id: str | None
    captured_at: datetime
    refunded_at: datetime | None
    refund_route: str | None
    refund_claimed_at: datetime | None = None  # a refund through the provider taken on


# -- the money path's records ------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRecord:
    """A product of the catalogue as stored (`domain.catalogue.Product` is what services make
    of it)."""

    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    price_fen: int
    face_value_fen: int
    currency: str
    data_mb: int | None
    validity_days: int | None
    carriers: str  # comma-separated carrier codes; empty: every carrier
    active: bool
    sort_order: int


@dataclass(frozen=True)
class OrderRecord:
    """An order as stored (`domain.orders.Order` is what services make of it)."""

    id: int
    customer_id: int
    chat_id: int | None
    purpose: str
    status: str
    amount_fen: int
    currency: str
    phone_digits: str | None
    carrier: str | None
    product_id: int | None
    product_kind: str | None
    product_name_zh: str
    product_name_en: str
    payment_method: str | None
    gateway_reference: str | None
    failure_reason: str | None
    next_check_at: datetime | None
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    outcome_notified: bool
    outcome_claimed_until: datetime | None
    last_cause: str | None
    list_price_fen: int | None
    quote: dict[str, Any] | None
    coupon_code: str | None
    bundle_product_id: int | None
    bundle_product_code: str | None
    bundle_name_zh: str | None
    bundle_name_en: str | None
    bundle_price_fen: int | None
    reward_coupon_id: int | None


@dataclass(frozen=True)
class NewOrder:
    """An order to keep (`OrderRepository.add`); it is last changed when it is created."""

    customer_id: int
    purpose: str
    status: str
    amount_fen: int
    currency: str
    created_at: datetime
    expires_at: datetime
    chat_id: int | None = None
    phone_digits: str | None = None
    carrier: str | None = None
    product_id: int | None = None
    product_kind: str | None = None
    product_name_zh: str = ""
    product_name_en: str = ""
    payment_method: str | None = None
    list_price_fen: int | None = None
    quote: dict[str, Any] | None = None
    coupon_code: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class OrderEventRecord:
    """One line of an order's history: a change of status, or a note (same status)."""

    id: int
    order_id: int
    from_status: str | None
    to_status: str
    cause: str
    at: datetime


@dataclass(frozen=True)
class OrderChange:
    """An unpaid order's new price and terms, in place: same id, same number."""

    amount_fen: int
    list_price_fen: int
    quote: dict[str, Any] | None
    coupon_code: str | None
    bundle_product_id: int | None = None
    bundle_product_code: str | None = None
    bundle_name_zh: str | None = None
    bundle_name_en: str | None = None
    bundle_price_fen: int | None = None


@dataclass(frozen=True)
class SlotClaim:
    """A slot of an offer that a customer's order takes, with the wallet money it returns
    (all of it spent of the offer's budget) and what else it costs the campaign."""

    offer_id: int
    customer_id: int
    cashback_fen: int = 0
    # How many of the customer's orders may hold or be granted the offer (None: any).
    uses_per_customer: int | None = None
    # Of `cashback_fen`, what is a red packet (the rest is percentage cash-back).
    red_packet_fen: int = 0
    # Points beyond the base the offer adds, and what it takes off the price.
    bonus_points: int = 0
    discount_fen: int = 0


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


@dataclass(frozen=True)
class Cashback:
    """Cash-back (> 0) into a customer's wallet, as one wallet ledger entry keyed `key`."""

    amount_fen: int
    currency: str
    key: str

    def __post_init__(self) -> None:
        if self.amount_fen <= 0:
            raise ValueError(f"cannot pay {self.amount_fen} fen of cash-back")


@dataclass(frozen=True)
class Grant:
    """What completing an order grants: its points, its cash-back, and the slots it holds
    granted (`claims`)."""

    earning: PointsEarning | None = None
    cashback: Cashback | None = None
    claims: bool = False

    def __bool__(self) -> bool:
        return self.earning is not None or self.cashback is not None or self.claims


# -- repositories ------------------------------------------------------------------------------


class SupportRepository(Protocol):
    """Tickets, their messages (transcript and outbox), suggestions, order ratings, the flood
    counter and staff roles."""

    def add_suggestion(self, customer_id: int, text: str, at: datetime) -> None: ...

    def add_rating(self, order_id: int, customer_id: int, stars: int, at: datetime) -> None:
        """A second rating of the same order is a `RecordConflict` (at the latest on commit)."""

    async def rating(self, order_id: int) -> OrderRatingRecord | None: ...

    async def comment_rating(self, customer_id: int, order_id: int, comment: str) -> bool:
        """The comment of the customer's rating, once."""

    async def open_ticket(self, ticket: NewTicket) -> TicketRecord:
        """A new ticket (its id given now)."""

    async def add_message(self, message: NewTicketMessage) -> None:
        """A message of a ticket, not yet delivered. One whose source (chat and message) is
        kept already is a `RecordConflict` (at the latest on commit)."""

    async def ticket(self, ticket_id: int) -> TicketRecord | None: ...

    async def tickets_by_id(self, ticket_ids: Iterable[int]) -> dict[int, TicketRecord]:
        """These tickets, by id, in one read (an id of no ticket is left out)."""

    async def own_ticket(self, customer_id: int, ticket_id: int) -> TicketRecord | None:
        """The ticket only when it is this customer's."""

    async def tickets_of(self, customer_id: int, limit: int) -> list[TicketRecord]:
        """The customer's tickets, newest first."""

    async def tickets(self, statuses: Iterable[str], limit: int) -> list[TicketRecord]:
        """Tickets in `statuses`, by priority ("high" first), then oldest first."""

    async def opened_since(self, since: datetime) -> list[TicketRecord]: ...

    async def first_response_average(self, since: datetime) -> float | None:
        """The mean first-response time, in seconds, of the tickets opened since `since` that
        staff answered (None: none answered), worked out by the database."""

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
        """To `target` (setting `values`, columns of `TicketRecord`) only from one of `sources`
        (and only when nobody took it, with `unassigned`)."""

    async def rate(self, ticket_id: int, stars: int, at: datetime) -> bool:
        """The customer's rating of a resolved ticket, once."""

    async def take_if_unassigned(
        self, ticket_id: int, staff_id: int, statuses: Iterable[str], at: datetime
    ) -> bool: ...

    async def escalate(self, ticket_id: int, waiting_since_before: datetime, at: datetime) -> bool:
        """Raised once per wait, when its customer waits since before `waiting_since_before`."""

    async def set_topic(self, ticket_id: int, thread_id: int) -> bool:
        """The staff chat's topic of the ticket, set once."""

    async def unanswered(self, waited_since: datetime, statuses: Iterable[str]) -> list[int]: ...

    async def resolved_before(self, before: datetime) -> list[int]: ...

    async def without_topic(self) -> list[int]:
        """Tickets with no topic and something undelivered for the staff chat."""

    async def message(self, message_id: int) -> TicketMessageRecord | None: ...

    async def pending(self, stale_before: datetime, limit: int) -> list[TicketMessageRecord]:
        """Undelivered messages, oldest first, unclaimed or claimed before `stale_before`."""

    async def claim(self, message_id: int, at: datetime, stale_before: datetime) -> bool: ...

    async def set_message(self, message_id: int, **values: object) -> None:
        """Set columns of `TicketMessageRecord` of the message."""

    async def ticket_of_sent(self, chat_id: int, message_id: int) -> int | None: ...

    async def transcript(self, ticket_id: int, kinds: Iterable[str]) -> list[TicketMessageRecord]:
        """The ticket's messages of `kinds`, oldest first."""

    async def card_message(self, ticket_id: int) -> tuple[int, int] | None:
        """(chat, message) the ticket's card became in the staff chat."""

    async def erase_customer(self, customer_id: int, marker: str, texts: Iterable[str]) -> None:
        """Blank what the customer wrote (messages of kinds `texts`, suggestions, rating
        comments) with `marker` and forget their chat; the figures stay."""

    async def open_quota(self, customer_id: int, window_start: datetime) -> None:
        """The window's counter, at zero unless it exists already."""

    async def use_quota(self, customer_id: int, window_start: datetime, limit: int) -> bool:
        """One more message in the window, if fewer than `limit` were used."""

    async def role(self, telegram_id: int) -> str | None: ...

    async def with_role(self, role: str) -> list[int]: ...

    async def grant(self, telegram_id: int, role: str, at: datetime) -> None: ...

    async def revoke(self, telegram_id: int) -> bool: ...


class WalletRepository(Protocol):
    """A customer's wallet: a balance that never goes negative, and its ledger."""

    async def open(self, customer_id: int, currency: str) -> None: ...

    async def balance(self, customer_id: int) -> int: ...

    async def ledger_sum(self, customer_id: int) -> int: ...

    async def entries(self, customer_id: int, limit: int) -> list[WalletEntryRecord]:
        """The newest entries first."""

    async def has_entry(self, key: str) -> bool: ...

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
        """Move the balance by `amount_fen` with its ledger entry under `key`; False (nothing
        moved) when it would go negative or there is no wallet. A second entry under the same
        key is a `RecordConflict`."""


class PaymentRepository(Protocol):
    async def add(self, order_id: int, payment: NewPayment) -> int:
        """Keep the order's payment (with its amount and currency); a second payment of the
        order, or of the same Telegram charge, is a `RecordConflict`."""

    async def of_order(self, order_id: int) -> PaymentRecord | None: ...

    async def by_telegram_charge(self, charge_id: str) -> PaymentRecord | None: ...

    async def latest_of_customer(self, customer_id: int) -> int | None:
        """The id of the last payment kept for any order of the customer (ids grow), or None
        when the customer never paid."""

    async def mark_refunded(self, order_id: int, at: datetime, route: str) -> bool:
        """Refunded by `route`, once."""

    async def claim_refund(self, order_id: int, at: datetime, stale_before: datetime) -> bool:
        """Take on the refund of the order's payment at `at`: one conditional write, so of
        claims at once exactly one wins. Refused (False) when there is no payment, it is
        refunded, or it was claimed at or after `stale_before` (a claim before that is one
        cut short, and is taken over)."""

    async def release_refund_claim(self, order_id: int, claimed_at: datetime) -> bool:
        """Give up the claim made at `claimed_at` (so the refund is taken on again later);
        False when the payment is refunded or the claim is no longer that one."""


class ProductRepository(Protocol):
    async def active(self, kind: str) -> list[ProductRecord]:
        """The active products of `kind`, in the catalogue's order."""

    async def get(self, product_id: int) -> ProductRecord | None:
        """The product, whatever its state."""

    async def by_code(self, code: str) -> ProductRecord | None: ...


class AllowanceRepository(Protocol):
    """Running totals of a customer (`domain/allowances.py`), taken within a limit."""

    async def take(self, customer_id: int, scope: str, amount: int, limit: int) -> bool:
        """Take `amount` of `scope` unless that would pass `limit` (False: nothing taken); of
        concurrent takes, exactly those that fit succeed."""

    async def take_each(self, customer_id: int, takes: Sequence[Take]) -> set[str]:
        """Each of `takes` (distinct scopes) taken as `take` would, independently of the
        others, at once; the scopes taken."""

    async def give_back(self, customer_id: int, scope: str, amount: int) -> None:
        """Give back `amount` taken of `scope` (never below nothing)."""

    async def used(self, customer_id: int, scope: str) -> int: ...


class OrderReader(Protocol):
    """Reading one order, and forgetting the numbers of a customer's orders: what the
    customer, support and privacy services ask of the order repository."""

    async def get(self, order_id: int) -> OrderRecord | None: ...

    async def anonymise_phones(self, customer_id: int) -> None:
        """Keep only 138****5678 of every number the customer's orders were for."""


class OrderRepository(OrderReader, Protocol):
    """Orders and their history. An order changes status only by `move` (or `start_payment`),
    a conditional write: of concurrent moves from the status it is in, one applies; and its
    customer's total of the day for its purpose (an allowance) follows it in the same
    transaction."""

    async def add(self, order: NewOrder, cause: str, daily_limit_fen: int) -> OrderRecord:
        """Keep a new order with the first line of its history (`cause`). Its amount is taken
        from its customer's total of the day for its purpose first, only within
        `daily_limit_fen`: `domain.orders.LimitExceeded` (nothing kept) when it does not fit,
        however many orders arrive at once."""

    async def of_customer(self, customer_id: int, limit: int) -> list[OrderRecord]:
        """The customer's orders, newest first."""

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
        """To `to_status` (setting `values`, columns of `OrderRecord`) only from one of
        `from_statuses`, recorded in its history for `cause`; the order after the move, or
        None when it was not moved. Leaving the statuses that count towards the day's total
        gives its amount back.

        At most one of: `payment` (the order is paid by it, for its amount; a second payment
        of the order is a `RecordConflict`), `grant` (its customer gets it, each part once; a
        customer with no points balance or wallet cannot: ValueError), `claims` (a slot of each
        offer is taken first and the order moves only if it got them all; the slots it took
        stay held when it did not move; a claim another mover made for the order at the same
        moment is a `RecordConflict`)."""

    async def change_unpaid(
        self,
        was: OrderRecord,
        change: OrderChange,
        cause: str,
        at: datetime,
        daily_limit_fen: int,
    ) -> OrderRecord | None:
        """The unpaid order `was` changed in place to `change`, only while it is new, in its
        payment window and as it was read (price, coupon, pack); None when it was not. The
        day's total follows the new price (a rise within `daily_limit_fen`, else
        `LimitExceeded`)."""

    async def grant(self, order_id: int, customer_id: int, grant: Grant, at: datetime) -> bool:
        """What completing the order earned, each once; False when its points were granted
        already (a replay grants nothing)."""

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
        """created -> awaiting_payment by `method`, only for `owner`'s order, in its payment
        window and of one of `purposes`; with `without_own_coupon`, only if the order holds no
        coupon of the customer's own (`reward_coupon_id`)."""

    async def record(
        self, order_id: int, from_status: str | None, to_status: str, cause: str, at: datetime
    ) -> None:
        """A line of history that is no change of status."""

    async def set_values(self, order_id: int, **values: object) -> None:
        """Set columns of `OrderRecord` that are not its status."""

    async def events(self, order_id: int) -> list[OrderEventRecord]:
        """The order's history, oldest first."""

    async def events_since(self, customer_id: int, cause: str, since: datetime) -> int:
        """How many lines of `cause` the customer's orders had since `since`."""

    async def due_for_expiry(self, now: datetime, statuses: Iterable[str]) -> list[int]: ...

    async def in_flight(
        self, now: datetime, statuses: Iterable[str], limit: int
    ) -> list[OrderRecord]:
        """Orders in `statuses` due to be checked again, as read, by id."""

    async def awaiting_provider(
        self, statuses: Iterable[str], methods: Iterable[str]
    ) -> list[int]: ...

    async def unnotified(
        self, statuses: Iterable[str], limit: int, now: datetime
    ) -> list[OrderRecord]:
        """Orders in `statuses` whose customer was not told and that nobody is telling now,
        as read, by id."""

    async def claim_outcome(self, order_id: int, now: datetime, until: datetime) -> bool:
        """True for the one caller that may tell the outcome now, until `until`."""

    async def outcome_told(self, order_id: int) -> None: ...

    async def release_outcome(self, order_id: int) -> None: ...


class CustomerRepository(Protocol):
    async def turn(self, telegram_id: int, chat_id: int) -> TurnRecord | None:
        """The customer with their conversation in this chat, in one read."""

    async def by_telegram_id(self, telegram_id: int) -> CustomerRecord | None: ...

    async def get(self, customer_id: int) -> CustomerRecord | None: ...

    async def languages(self, customer_ids: Iterable[int]) -> dict[int, str]:
        """The language of each of these customers, by id; an erased customer is left out."""

    async def register(self, customer: NewCustomer) -> CustomerRecord:
        """A new customer (its id given now); a second one of a Telegram id is a
        `RecordConflict` (at the latest on commit)."""

    async def rename(
        self,
        customer_id: int,
        first_name: str | None,
        last_name: str | None,
        username: str | None,
        at: datetime,
    ) -> None:
        """Their names as Telegram gives them now, seen at `at`."""

    async def set_language(self, customer_id: int, language: str) -> None: ...

    async def seen(self, customer_id: int, at: datetime, unless_since: datetime) -> None:
        """The customer was seen at `at` (written only if not seen since `unless_since`)."""

    async def erase(self, customer_id: int, at: datetime) -> None:
        """Forget their Telegram id and names; the row stays for the financial records."""


class PhoneBindingRepository(Protocol):
    async def of_customer(self, customer_id: int) -> list[PhoneBindingRecord]:
        """Oldest first."""

    async def bind(
        self, customer_id: int, digits: str, carrier: str, at: datetime, *, verified: bool = False
    ) -> PhoneBindingRecord | None:
        """A number of the customer (`verified`: shared as their own Telegram contact); None
        and nothing kept when the customer is not there or was erased (checked in the same
        write); the same number twice is a `RecordConflict` (at the latest on commit)."""

    async def mark_verified(self, customer_id: int, digits: str) -> None:
        """The customer's number, typed before, now shared as their own contact."""

    async def remove(self, customer_id: int, binding_id: int) -> bool:
        """Only one of the customer's own numbers."""

    async def remove_all(self, customer_id: int) -> None: ...


class ConversationRepository(Protocol):
    async def find(self, chat_id: int, telegram_id: int) -> ConversationRecord | None: ...

    async def upsert(
        self, chat_id: int, telegram_id: int, step: str, data: dict[str, object], at: datetime
    ) -> None:
        """The chat's state, inserted or replaced."""

    async def forget_user(self, telegram_id: int) -> None: ...

    async def reset_idle_since(self, cutoff: datetime, idle_step: str) -> int:
        """States untouched since before `cutoff` go to `idle_step` (empty data); how many."""


class AuditTrail(Protocol):
    """Append-only: what staff and the system did, in the transaction that did it."""

    async def append(self, entry: AuditEntry, at: datetime) -> None:
        """Kept with `actor_name` cut to 128 characters, `subject` to 64, `detail` to 255."""

    async def recent(self, limit: int, before_id: int | None = None) -> list[AuditRecord]:
        """Newest first (only those before `before_id`)."""

    async def within(self, start: datetime, end: datetime, limit: int) -> list[AuditRecord]:
        """Newest first, of those at or after `start` and before `end` (at most `limit`)."""

    async def actors(self, action: str, subject: str) -> set[int]:
        """The actor ids of the records of `action` on `subject` (e.g. first approvals)."""

    def all_in_order(self) -> AsyncIterator[AuditRecord]:
        """Every record, oldest first."""


class PointsOpener(Protocol):
    async def open(self, customer_id: int) -> None:
        """A new customer's points balance, at zero."""


class PrivacyRepository(Protocol):
    async def forget_chats(self, customer_id: int) -> None:
        """Every place that keeps the chat the bot talks to the customer in forgets it."""

    async def forget_secrets(self, customer_id: int) -> None:
        """The customer's payment PIN (its hash) goes."""

    async def inactive_customers(self, since: datetime, limit: int) -> list[int]:
        """Customers not erased with no sign of life since `since` and no money kept."""

    async def personal_data(self, customer_id: int, ticket_texts: Sequence[str]) -> PersonalData:
        """Everything kept about the customer, each row theirs alone; `ticket_texts`: the
        kinds of ticket message that are words written by the customer or to them."""


# -- the unit of work --------------------------------------------------------------------------


class UnitOfWork(Protocol):
    """One use case's transaction, and the repositories that work inside it."""

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    @property
    def support(self) -> SupportRepository: ...

    @property
    def wallets(self) -> WalletRepository: ...

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def allowances(self) -> AllowanceRepository: ...

    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def customers(self) -> CustomerRepository: ...

    @property
    def phones(self) -> PhoneBindingRepository: ...

    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def points(self) -> PointsOpener: ...

    @property
    def privacy(self) -> PrivacyRepository: ...

    @property
    def audit(self) -> AuditTrail: ...

    @property
    def consents(self) -> ConsentRepository: ...

    @property
    def pins(self) -> PinRepository: ...

    @property
    def dashboard_tokens(self) -> DashboardTokenRepository: ...

    @property
    def staff_digests(self) -> StaffDigestRepository: ...

    @property
    def campaign_files(self) -> CampaignFileRepository: ...

    @property
    def figures(self) -> FigureReader: ...

    @property
    def push_figures(self) -> PushFigureReader: ...

    @property
    def offers_seen(self) -> OffersSeenRecorder: ...

    @property
    def holdout_buckets(self) -> HoldoutBucketKeeper: ...

    @property
    def rollups(self) -> RollupFolder: ...


class UnitOfWorkFactory(Protocol):
    """A fresh unit of work per use case; `read()` for one that only reads, `report()` for one
    that only reads figures summed over many rows (a dashboard page), `single_statement()` for
    one that writes with exactly one statement (it commits by itself, so two would not be one
    transaction)."""

    def __call__(self) -> UnitOfWork: ...

    def read(self) -> UnitOfWork: ...

    def report(self) -> UnitOfWork: ...

    def single_statement(self) -> UnitOfWork: ...
