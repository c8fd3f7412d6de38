"""What the broadcast service asks of the unit of work (`BroadcastUnitOfWork`): broadcasts,
their outbox (one push per broadcast and customer), opt-outs, surveys, customers' time zones
and what staff did; beside the reminders' view of who can be reached and what campaigns are.

Rows come back as read-only views (`BroadcastView`, `PushView`, …) and a new broadcast goes in
as a `NewBroadcast`: a service never sees an ORM row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.broadcasts import Audience, BroadcastStatus, PushSkip
from domain.repositories import UnitOfWork
from domain.repositories.reminders import FAILED as FAILED
from domain.repositories.reminders import PLANNED as PLANNED
from domain.repositories.reminders import SENDING as SENDING
from domain.repositories.reminders import SENT as SENT
from domain.repositories.reminders import SKIPPED as SKIPPED
from domain.repositories.reminders import CampaignDirectory, ReminderRepository

# The life of a push is that of a reminder (planned -> sending -> sent, skipped or failed),
# and a sent push may be taken back: to delete, being deleted (claimed), deleted (or found
# undeletable).
UNSEND, UNSENDING, UNSENT = "unsend", "unsending", "unsent"
QUEUED = (PLANNED, SENDING)
DELIVERED = (SENT, UNSEND, UNSENDING, UNSENT)

# A sent push: its variant, a button pressed, when it was sent, the first recharge since.
PushOutcome = tuple[int, bool, datetime | None, datetime | None]


class BroadcastView(Protocol):
    """A push to an audience: its texts, buttons, audience, when it goes and how far planning
    got (customers up to `planned_through` are in the outbox; `planned` once all are)."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def text_zh(self) -> str: ...
    @property
    def text_en(self) -> str: ...
    @property
    def targets(self) -> Sequence[str]: ...
    @property
    def audience(self) -> Mapping[str, object]: ...
    @property
    def campaign_id(self) -> int | None: ...
    @property
    def offer_id(self) -> int | None: ...
    @property
    def send_at(self) -> datetime: ...
    @property
    def created_by(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def variants(self) -> Sequence[Mapping[str, object]] | None: ...
    @property
    def planned_through(self) -> int: ...
    @property
    def planned(self) -> bool: ...
    @property
    def photo(self) -> str | None: ...
    @property
    def links(self) -> bool: ...
    @property
    def urgent(self) -> bool: ...
    @property
    def local_time(self) -> str | None: ...


class PushView(Protocol):
    """One push of a broadcast's outbox to one customer."""

    @property
    def id(self) -> int: ...
    @property
    def broadcast_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def variant(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def cap_scope(self) -> str | None: ...  # the frequency cap's allowance it took
    @property
    def message_id(self) -> int | None: ...


class BroadcastActionView(Protocol):
    @property
    def staff_id(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def at(self) -> datetime: ...


@dataclass(frozen=True)
class NewBroadcast:
    """A broadcast to keep (`BroadcastRepository.add`), planned from its first customer."""

    status: str
    text_zh: str
    text_en: str
    targets: list[str]
    audience: dict[str, object]
    send_at: datetime
    created_by: int
    created_at: datetime
    campaign_id: int | None = None
    offer_id: int | None = None
    variants: list[dict[str, object]] | None = None
    photo: str | None = None
    links: bool = False
    urgent: bool = False
    local_time: str | None = None


class BroadcastRepository(Protocol):
    """Every change is one conditional write, or an insert that a unique key makes
    idempotent; of concurrent senders, each push is taken by one."""

    # -- consent
    async def opt_out(self, customer_id: int, at: datetime) -> int:
        """Pushes off (and marketing refused), every push queued for the customer skipped;
        how many were stopped."""

    async def opt_in(self, customer_id: int) -> None:
        """Pushes on (and marketing agreed, where the customer gave their consent)."""

    async def marketing_refused(self, ids: Iterable[int]) -> set[int]:
        """Of the customers, those who have not agreed to marketing pushes."""

    async def opted_out(self, ids: Iterable[int]) -> set[int]: ...

    # -- broadcasts
    async def add(self, broadcast: NewBroadcast) -> int:
        """Keep the broadcast; its id."""

    async def get(self, broadcast_id: int) -> BroadcastView | None: ...

    async def recent(self, limit: int) -> Sequence[BroadcastView]:
        """Newest first."""

    async def due(self, now: datetime) -> Sequence[BroadcastView]:
        """Broadcasts being sent: scheduled and their time has come."""

    async def move(
        self, broadcast_id: int, to: BroadcastStatus, allowed_from: Sequence[BroadcastStatus]
    ) -> bool:
        """Change the broadcast's status when it is in one of `allowed_from`; False if not."""

    async def record(self, broadcast_id: int, staff_id: int, action: str, at: datetime) -> None:
        """What a staff member did to the broadcast."""

    async def actions(self, broadcast_id: int) -> Sequence[BroadcastActionView]:
        """In order."""

    async def skip_queued(self, broadcast_id: int, reason: str, now: datetime) -> int:
        """Skip every push of the broadcast not sent yet (planned, or claimed by a sender whose
        claim lapsed); how many."""

    async def reach(
        self,
        audience: Audience,
        now: datetime,
        cap_scope: str,
        cap: int,
        consent_required: bool = False,
    ) -> tuple[int, dict[PushSkip, int]]:
        """How many customers (not erased) the audience holds, and how many of them a push
        would not reach now, by reason; each counted under the first reason that applies."""

    async def reachable_ids(
        self,
        audience: Audience,
        now: datetime,
        cap_scope: str,
        cap: int,
        consent_required: bool = False,
    ) -> Sequence[int]:
        """The customers of the audience a push would reach now."""

    # -- planning
    async def top_customer_id(self) -> int: ...

    async def plan(
        self,
        broadcast_id: int,
        audience: Audience,
        after_id: int,
        up_to_id: int,
        now: datetime,
        shares: tuple[int, ...] = (100,),
        consent_required: bool = False,
        send_times: tuple[dict[str, datetime], datetime] | None = None,
    ) -> int:
        """Plan the push for reachable customers of the audience whose ids are in
        (after_id, up_to_id], rows already planned untouched; how many were added. Each gets
        the variant its bucket falls in (`domain.broadcasts.variant_of`) and, with
        `send_times` ({time zone: moment}, the moment of everyone else), its own send time."""

    async def planned_through(self, broadcast_id: int, through: int, finished: bool) -> None: ...

    # -- sending
    async def claim(
        self,
        broadcast_ids: Sequence[int],
        now: datetime,
        until: datetime,
        limit: int,
        lapsed_by: datetime | None = None,
    ) -> Sequence[PushView]:
        """Take up to `limit` pushes of the broadcasts for sending until `until` (claims lapsed
        by `lapsed_by`, `now` when None, first, then planned ones due), by id. Two senders
        never take the same push."""

    async def defer(self, outbox_id: int, until: datetime) -> None:
        """A claimed push back to planned, not to be sent before `until`."""

    async def took_cap(self, outbox_id: int, scope: str) -> None:
        """The push took the frequency cap's allowance `scope`."""

    async def settle(
        self,
        outbox_id: int,
        status: str,
        at: datetime,
        *,
        reason: str | None = None,
        message_id: int | None = None,
    ) -> PushView | None:
        """sending -> sent / failed / skipped; the push, or None when it was not being sent."""

    async def release(self, ids: Iterable[int]) -> None:
        """Give claimed pushes back, unsent, to be sent later."""

    async def finish_sent(self, now: datetime) -> Sequence[int]:
        """Broadcasts fully planned with nothing left queued become done; their ids."""

    async def pressed(self, broadcast_id: int, customer_id: int, at: datetime) -> bool:
        """The first press of a button of the customer's push; False if pressed before."""

    async def outcomes(self, broadcast_id: int) -> Sequence[PushOutcome]:
        """Each push sent: its variant, whether a button was pressed, when it was sent, and
        the customer's first completed recharge since then (or None)."""

    async def was_sent(self, broadcast_id: int, customer_id: int) -> bool: ...

    async def progress(self, broadcast_id: int) -> Sequence[tuple[str, str | None, int]]:
        """(status, reason, count) of the broadcast's outbox."""

    # -- customers' time zones
    async def time_zones(self) -> Sequence[str]:
        """Every time zone a customer chose."""

    async def time_zone(self, customer_id: int) -> str | None: ...

    async def set_time_zone(self, customer_id: int, zone: str) -> None: ...

    # -- taking a broadcast back
    async def unsend(self, broadcast_id: int) -> int:
        """Every push of the broadcast that was sent becomes one to delete; how many."""

    async def claim_unsend(self, now: datetime, until: datetime, limit: int) -> Sequence[PushView]:
        """Take up to `limit` pushes to delete (lapsed claims first); two processes never
        delete the same message."""

    async def unsent(self, outbox_id: int, reason: str | None) -> None:
        """The message is gone from the chat (or Telegram refused to delete it: `reason`)."""

    async def unsend_later(self, ids: Iterable[int]) -> None:
        """Deletions claimed and not done now: the next sweep tries again."""

    # -- surveys
    async def rate(
        self,
        broadcast_id: int,
        customer_id: int,
        campaign_id: int | None,
        rating: int,
        at: datetime,
    ) -> bool:
        """The customer's rating of the broadcast's campaign; False when they rated it before
        (the first rating stays)."""

    async def comment(self, broadcast_id: int, customer_id: int, text: str) -> bool:
        """The comment beside a rating, once."""

    async def survey_results(self, since: datetime) -> Sequence[tuple[int, str, str, int, float]]:
        """(campaign id, Chinese name, English name, answers, average rating) per campaign."""


class BroadcastUnitOfWork(UnitOfWork, Protocol):
    async def __aenter__(self) -> BroadcastUnitOfWork: ...

    @property
    def broadcasts(self) -> BroadcastRepository: ...

    @property
    def reminders(self) -> ReminderRepository: ...

    @property
    def campaigns(self) -> CampaignDirectory: ...


class BroadcastUnitOfWorkFactory(Protocol):
    def __call__(self) -> BroadcastUnitOfWork: ...

    def read(self) -> BroadcastUnitOfWork: ...
