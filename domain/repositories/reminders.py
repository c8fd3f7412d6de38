"""What the reminder service asks of the unit of work (`ReminderUnitOfWork`): subscriptions,
the outbox of reminders, customers who cannot be reached, the scheduler's lease, and the
campaigns the reminders are about.

Rows come back as read-only views (`ReminderOutboxView`, `ContactView`, …): an ORM row
satisfies them, and a service never sees which class it got.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from domain.repositories import UnitOfWork
from domain.repositories.money import CampaignReader, CampaignView, OfferView

# The life of an outbox row (a reminder, or a push): planned -> sending -> sent, or skipped
# (with the reason) or failed (dead-lettered, with the reason).
PLANNED, SENDING, SENT, SKIPPED, FAILED = "planned", "sending", "sent", "skipped", "failed"
# The statuses of an offer's slot that mean a customer took the offer.
CLAIMS_THAT_COUNT = ("held", "granted")


class ContactView(Protocol):
    """A customer as the senders of reminders and pushes see them."""

    @property
    def id(self) -> int: ...
    @property
    def telegram_id(self) -> int | None: ...  # None once they erased their personal data
    @property
    def language(self) -> str: ...
    @property
    def timezone(self) -> str | None: ...


class ReminderSubscriptionView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def campaign_id(self) -> int: ...
    @property
    def scope(self) -> str: ...  # an offer's code, or "*": every reminder of the campaign
    @property
    def chat_id(self) -> int: ...
    @property
    def timezone(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class ReminderOutboxView(Protocol):
    """One reminder to one customer, sent at most once."""

    @property
    def id(self) -> int: ...
    @property
    def campaign_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def reminder_key(self) -> str: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def stale_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...


class CampaignDirectory(CampaignReader, Protocol):
    """Every campaign, whatever its window, and single offers by id."""

    async def all(self) -> Sequence[CampaignView]:
        """Every campaign, by start."""

    async def offer(self, offer_id: int) -> OfferView | None: ...

    async def exists(self, campaign_id: int) -> bool: ...


class ReminderRepository(Protocol):
    """Subscriptions, the outbox of reminders and who can be reached. Every change is one
    conditional write, or an insert that a unique key makes idempotent."""

    async def subscribe(
        self,
        customer_id: int,
        campaign_id: int,
        scope: str,
        chat_id: int,
        timezone: str,
        at: datetime,
    ) -> bool:
        """True when the subscription is new; an existing one is left as it is."""

    async def unsubscribe(self, customer_id: int, campaign_id: int, scope: str | None) -> int:
        """Remove one scope, or every scope of the campaign when `scope` is None; how many."""

    async def subscriptions_of(self, customer_id: int) -> Sequence[ReminderSubscriptionView]:
        """By campaign, then scope."""

    async def timezones(self, campaign_id: int) -> Sequence[tuple[str, int]]:
        """The time zones of a campaign's subscribers, each with the highest subscription id."""

    async def subscribed(
        self, pairs: Iterable[tuple[int, int]]
    ) -> Mapping[tuple[int, int], tuple[set[str], str]]:
        """The scopes each (customer, campaign) pair is subscribed to, and the time zone."""

    async def campaign(self, campaign_id: int) -> tuple[CampaignView, Sequence[OfferView]] | None:
        """The campaign with its offers (by id), whatever its window."""

    async def plan(
        self,
        *,
        campaign_id: int,
        timezone: str,
        after_id: int,
        up_to_id: int,
        key: str,
        due_at: datetime,
        stale_at: datetime,
        now: datetime,
        scopes: Sequence[str] | None = None,
        subscribed_by: datetime | None = None,
    ) -> int:
        """Plan reminder `key` for the campaign's subscribers in one time zone whose
        subscription ids are in (after_id, up_to_id] (of `scopes`, subscribed by
        `subscribed_by`, when given), rows already planned untouched; how many were added."""

    async def claim_due(
        self, now: datetime, until: datetime, limit: int, lapsed_by: datetime | None = None
    ) -> Sequence[ReminderOutboxView]:
        """Take up to `limit` reminders for sending until `until`: claims lapsed by `lapsed_by`
        (`now` when None) first, then planned ones that are due; by due time. Two senders
        never take the same one."""

    async def settle(
        self,
        outbox_id: int,
        status: str,
        at: datetime,
        *,
        reason: str | None = None,
        message_id: int | None = None,
    ) -> bool:
        """sending -> sent / failed / skipped; False when it was not being sent."""

    async def pressed(self, outbox_id: int, customer_id: int, at: datetime) -> bool:
        """The first press of a button of the customer's reminder; False if pressed before
        (or not theirs)."""

    async def skip(self, reasons: Mapping[int, str], at: datetime) -> None:
        """Claimed reminders skipped, each with its reason."""

    async def postpone(self, outbox_id: int, due_at: datetime) -> None:
        """A claimed reminder back to planned, due at `due_at`."""

    async def release(self, ids: Iterable[int]) -> None:
        """Give claimed reminders back, unsent, to be sent later."""

    async def progress(self) -> Sequence[tuple[int, str, int]]:
        """(campaign id, status, count) over the whole outbox."""

    async def customers(self, ids: Iterable[int]) -> Mapping[int, ContactView]: ...

    async def unreachable(self, ids: Iterable[int]) -> set[int]:
        """Of the customers, those who blocked the bot."""

    async def mark_unreachable(self, customer_id: int, at: datetime) -> None: ...

    async def mark_reachable(self, customer_id: int) -> None: ...

    async def claimed_offers(
        self, customer_ids: Iterable[int], offer_ids: Iterable[int]
    ) -> set[tuple[int, int]]:
        """(customer, offer) pairs where the customer holds or was granted the offer."""


class LeaseRepository(Protocol):
    async def hold(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease when it is ours or has lapsed; False when another holds it."""

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up, when it is ours: another process may take it at once."""


class ReminderUnitOfWork(UnitOfWork, Protocol):
    async def __aenter__(self) -> ReminderUnitOfWork: ...

    @property
    def campaigns(self) -> CampaignDirectory: ...

    @property
    def reminders(self) -> ReminderRepository: ...

    @property
    def leases(self) -> LeaseRepository: ...


class ReminderUnitOfWorkFactory(Protocol):
    def __call__(self) -> ReminderUnitOfWork: ...

    def read(self) -> ReminderUnitOfWork: ...
