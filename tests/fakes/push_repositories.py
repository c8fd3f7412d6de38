"""The repositories of reminders and broadcasts (`domain/repositories/reminders.py`,
`domain/repositories/broadcasts.py`) in memory, for the fake unit of work
(`tests/fakes/unit_of_work.py`): subscriptions, the two outboxes, opt-outs, blocked customers,
the scheduler's lease, staff actions and survey answers.

They keep the SQL repositories' semantics (`domain/persistence/reminder_repositories.py`,
`broadcast_repositories.py`, `outbox.py`): an outbox row is unique per reminder key and
customer, or per broadcast and customer, so planning twice adds nothing; a row is claimed,
settled, deferred or given back only from the status that allows it, so two senders never
take the same row; a press, a rating and a comment count once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from domain.broadcasts import Audience, BroadcastStatus, PushSkip, Stage, bucket_of, variant_of
from domain.repositories.broadcasts import (
    DELIVERED,
    PLANNED,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    UNSEND,
    UNSENDING,
    UNSENT,
    NewBroadcast,
    PushOutcome,
)
from domain.repositories.reminders import CLAIMS_THAT_COUNT
from domain.tiers import DEFAULT_TIERS, Tier
from tests.fakes.money_repositories import FakeCampaign, FakeOffer, utc

if TYPE_CHECKING:
    from domain.repositories import CustomerRecord, OrderRecord
    from tests.fakes.unit_of_work import FakeUnitOfWork, Tables


class _Repository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _t(self) -> Tables:
        return self._uow.tables


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeContact:
    id: int
    telegram_id: int | None
    language: str
    timezone: str | None


@dataclass(frozen=True)
class FakeSubscription:
    id: int
    customer_id: int
    campaign_id: int
    scope: str
    chat_id: int
    timezone: str
    created_at: datetime


@dataclass(frozen=True)
class FakeReminder:
    """A row of the reminders' outbox: unique per (campaign, customer, reminder key)."""

    id: int
    campaign_id: int
    customer_id: int
    reminder_key: str
    chat_id: int
    due_at: datetime
    stale_at: datetime
    status: str
    planned_at: datetime
    claimed_until: datetime | None = None
    attempts: int = 0
    reason: str | None = None
    message_id: int | None = None
    settled_at: datetime | None = None
    pressed_at: datetime | None = None


@dataclass(frozen=True)
class FakeLease:
    holder: str
    expires_at: datetime


@dataclass(frozen=True)
class FakeBroadcast:
    id: int
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
    planned_through: int = 0
    planned: bool = False
    photo: str | None = None
    links: bool = False
    urgent: bool = False
    local_time: str | None = None


@dataclass(frozen=True)
class FakePush:
    """A row of the broadcasts' outbox: unique per (broadcast, customer)."""

    id: int
    broadcast_id: int
    customer_id: int
    chat_id: int
    variant: int
    status: str
    planned_at: datetime
    send_at: datetime | None = None
    claimed_until: datetime | None = None
    attempts: int = 0
    cap_scope: str | None = None
    reason: str | None = None
    message_id: int | None = None
    settled_at: datetime | None = None
    pressed_at: datetime | None = None


@dataclass(frozen=True)
class FakeBroadcastAction:
    id: int
    broadcast_id: int
    staff_id: int
    action: str
    at: datetime


@dataclass(frozen=True)
class FakeSurveyAnswer:
    """A rating of a broadcast's campaign: unique per (broadcast, customer)."""

    id: int
    broadcast_id: int
    customer_id: int
    campaign_id: int | None
    rating: int
    at: datetime
    comment: str | None = None


def _reason(reason: str | None) -> str | None:
    return reason[:200] if reason else None


def _completed_recharges(tables: Tables, customer_id: int) -> list[OrderRecord]:
    return [
        o
        for o in tables.orders.values()
        if o.customer_id == customer_id and o.purpose == "recharge" and o.status == "completed"
    ]


def _recharged_since(tables: Tables, customer_id: int, since: datetime | None) -> bool:
    return any(
        since is None or (o.completed_at is not None and o.completed_at >= since)
        for o in _completed_recharges(tables, customer_id)
    )


# -- reminders ---------------------------------------------------------------------------------


class FakeReminderRepository(_Repository):
    # -- subscriptions
    async def subscribe(
        self,
        customer_id: int,
        campaign_id: int,
        scope: str,
        chat_id: int,
        timezone: str,
        at: datetime,
    ) -> bool:
        subscriptions = self._t.reminder_subscriptions
        if any(
            (s.customer_id, s.campaign_id, s.scope) == (customer_id, campaign_id, scope)
            for s in subscriptions.values()
        ):
            return False
        subscription_id = self._t.next_id("reminder_subscriptions")
        subscriptions[subscription_id] = FakeSubscription(
            subscription_id, customer_id, campaign_id, scope, chat_id, timezone, utc(at)
        )
        return True

    async def unsubscribe(self, customer_id: int, campaign_id: int, scope: str | None) -> int:
        subscriptions = self._t.reminder_subscriptions
        gone = [
            s.id
            for s in subscriptions.values()
            if s.customer_id == customer_id
            and s.campaign_id == campaign_id
            and (scope is None or s.scope == scope)
        ]
        for subscription_id in gone:
            del subscriptions[subscription_id]
        return len(gone)

    async def subscriptions_of(self, customer_id: int) -> list[FakeSubscription]:
        theirs = [
            s for s in self._t.reminder_subscriptions.values() if s.customer_id == customer_id
        ]
        return sorted(theirs, key=lambda s: (s.campaign_id, s.scope))

    async def timezones(self, campaign_id: int) -> list[tuple[str, int]]:
        top: dict[str, int] = {}
        for s in self._t.reminder_subscriptions.values():
            if s.campaign_id == campaign_id:
                top[s.timezone] = max(top.get(s.timezone, 0), s.id)
        return sorted(top.items())

    async def subscribed(
        self, pairs: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[set[str], str]]:
        wanted = set(pairs)
        found: dict[tuple[int, int], tuple[set[str], str]] = {}
        for s in sorted(self._t.reminder_subscriptions.values(), key=lambda s: s.id):
            pair = (s.customer_id, s.campaign_id)
            if pair in wanted:
                found.setdefault(pair, (set(), s.timezone))[0].add(s.scope)
        return found

    async def campaign(self, campaign_id: int) -> tuple[FakeCampaign, list[FakeOffer]] | None:
        campaign = self._t.campaigns.get(campaign_id)
        if campaign is None:
            return None
        offers = [o for o in self._t.offers.values() if o.campaign_id == campaign_id]
        return campaign, sorted(offers, key=lambda o: o.id)

    # -- planning
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
        outbox = self._t.reminder_outbox
        kept = {(r.campaign_id, r.customer_id, r.reminder_key) for r in outbox.values()}
        added = 0
        for s in sorted(self._t.reminder_subscriptions.values(), key=lambda s: s.id):
            if (
                s.campaign_id != campaign_id
                or s.timezone != timezone
                or not after_id < s.id <= up_to_id
                or (scopes is not None and s.scope not in scopes)
                or (subscribed_by is not None and s.created_at > subscribed_by)
                or (campaign_id, s.customer_id, key) in kept
            ):
                continue
            kept.add((campaign_id, s.customer_id, key))
            reminder_id = self._t.next_id("reminder_outbox")
            outbox[reminder_id] = FakeReminder(
                reminder_id,
                campaign_id,
                s.customer_id,
                key,
                s.chat_id,
                utc(due_at),
                utc(stale_at),
                PLANNED,
                utc(now),
            )
            added += 1
        return added

    # -- sending
    def _take(self, due: list[FakeReminder], until: datetime, limit: int) -> list[FakeReminder]:
        taken = []
        for row in sorted(due, key=lambda r: (r.due_at, r.id))[:limit]:
            claimed = replace(
                row, status=SENDING, claimed_until=utc(until), attempts=row.attempts + 1
            )
            self._t.reminder_outbox[row.id] = claimed
            taken.append(claimed)
        return taken

    async def claim_due(
        self, now: datetime, until: datetime, limit: int, lapsed_by: datetime | None = None
    ) -> list[FakeReminder]:
        rows = self._t.reminder_outbox.values()
        by = now if lapsed_by is None else lapsed_by
        lapsed = [
            r
            for r in rows
            if r.status == SENDING and r.claimed_until is not None and r.claimed_until < by
        ]
        taken = self._take(lapsed, until, limit)
        if len(taken) < limit:
            due = [r for r in rows if r.status == PLANNED and r.due_at <= now]
            taken += self._take(due, until, limit - len(taken))
        return sorted(taken, key=lambda r: (r.due_at, r.id))

    async def settle(
        self,
        outbox_id: int,
        status: str,
        at: datetime,
        *,
        reason: str | None = None,
        message_id: int | None = None,
    ) -> bool:
        row = self._t.reminder_outbox.get(outbox_id)
        if row is None or row.status != SENDING:
            return False
        self._t.reminder_outbox[outbox_id] = replace(
            row,
            status=status,
            reason=_reason(reason),
            message_id=message_id,
            settled_at=utc(at),
            claimed_until=None,
        )
        return True

    async def pressed(self, outbox_id: int, customer_id: int, at: datetime) -> bool:
        row = self._t.reminder_outbox.get(outbox_id)
        if row is None or row.customer_id != customer_id or row.pressed_at is not None:
            return False
        self._t.reminder_outbox[outbox_id] = replace(row, pressed_at=utc(at))
        return True

    async def skip(self, reasons: Mapping[int, str], at: datetime) -> None:
        for outbox_id, reason in reasons.items():
            row = self._t.reminder_outbox.get(outbox_id)
            if row is not None and row.status == SENDING:
                self._t.reminder_outbox[outbox_id] = replace(
                    row, status=SKIPPED, reason=reason, settled_at=utc(at), claimed_until=None
                )

    async def postpone(self, outbox_id: int, due_at: datetime) -> None:
        row = self._t.reminder_outbox.get(outbox_id)
        if row is not None and row.status == SENDING:
            self._t.reminder_outbox[outbox_id] = replace(
                row, status=PLANNED, due_at=utc(due_at), claimed_until=None
            )

    async def release(self, ids: Iterable[int]) -> None:
        for outbox_id in ids:
            row = self._t.reminder_outbox.get(outbox_id)
            if row is not None and row.status == SENDING:
                self._t.reminder_outbox[outbox_id] = replace(
                    row, status=PLANNED, claimed_until=None
                )

    async def progress(self) -> list[tuple[int, str, int]]:
        counts = Counter((r.campaign_id, r.status) for r in self._t.reminder_outbox.values())
        return [(campaign, status, n) for (campaign, status), n in sorted(counts.items())]

    # -- who can be reached
    async def customers(self, ids: Iterable[int]) -> dict[int, FakeContact]:
        found = {}
        for customer_id in set(ids):
            customer = self._t.customers.get(customer_id)
            if customer is not None:
                found[customer_id] = _contact(customer, self._t.time_zones.get(customer_id))
        return found

    async def unreachable(self, ids: Iterable[int]) -> set[int]:
        return set(ids) & set(self._t.unreachable)

    async def mark_unreachable(self, customer_id: int, at: datetime) -> None:
        self._t.unreachable.setdefault(customer_id, utc(at))

    async def mark_reachable(self, customer_id: int) -> None:
        self._t.unreachable.pop(customer_id, None)

    async def claimed_offers(
        self, customer_ids: Iterable[int], offer_ids: Iterable[int]
    ) -> set[tuple[int, int]]:
        customers, offers = set(customer_ids), set(offer_ids)
        return {
            (c.customer_id, c.offer_id)
            for c in self._t.claims.values()
            if c.customer_id in customers and c.offer_id in offers and c.status in CLAIMS_THAT_COUNT
        }


def _contact(customer: CustomerRecord, timezone: str | None) -> FakeContact:
    return FakeContact(customer.id, customer.telegram_id, customer.language, timezone)


class FakeLeaseRepository(_Repository):
    async def hold(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        lease = self._t.leases.get(name)
        if lease is not None and lease.holder != holder and lease.expires_at >= now:
            return False
        self._t.leases[name] = FakeLease(holder, utc(until))
        return True

    async def release(self, name: str, holder: str) -> None:
        lease = self._t.leases.get(name)
        if lease is not None and lease.holder == holder:
            del self._t.leases[name]


# -- broadcasts --------------------------------------------------------------------------------


class FakeBroadcastRepository(_Repository):
    # -- consent
    async def opt_out(self, customer_id: int, at: datetime) -> int:
        self._t.push_opt_outs.setdefault(customer_id, utc(at))
        stopped = 0
        for push in list(self._t.pushes.values()):
            if push.customer_id == customer_id and push.status == PLANNED:
                self._t.pushes[push.id] = replace(
                    push, status=SKIPPED, reason=PushSkip.OPTED_OUT.value, settled_at=utc(at)
                )
                stopped += 1
        self._marketing(customer_id, False)
        return stopped

    async def opt_in(self, customer_id: int) -> None:
        self._t.push_opt_outs.pop(customer_id, None)
        self._marketing(customer_id, True)

    def _marketing(self, customer_id: int, agreed: bool) -> None:
        consent = self._t.consents.get(customer_id)
        if consent is not None:
            self._t.consents[customer_id] = replace(consent, marketing=agreed)

    def _agreed(self, customer_id: int) -> bool:
        consent = self._t.consents.get(customer_id)
        return consent is not None and consent.marketing

    async def marketing_refused(self, ids: Iterable[int]) -> set[int]:
        return {customer_id for customer_id in ids if not self._agreed(customer_id)}

    async def opted_out(self, ids: Iterable[int]) -> set[int]:
        return set(ids) & set(self._t.push_opt_outs)

    # -- broadcasts
    async def add(self, broadcast: NewBroadcast) -> int:
        broadcast_id = self._t.next_id("broadcasts")
        self._t.broadcasts[broadcast_id] = FakeBroadcast(
            id=broadcast_id,
            status=broadcast.status,
            text_zh=broadcast.text_zh,
            text_en=broadcast.text_en,
            targets=list(broadcast.targets),
            audience=dict(broadcast.audience),
            send_at=utc(broadcast.send_at),
            created_by=broadcast.created_by,
            created_at=utc(broadcast.created_at),
            campaign_id=broadcast.campaign_id,
            offer_id=broadcast.offer_id,
            variants=broadcast.variants,
            photo=broadcast.photo,
            links=broadcast.links,
            urgent=broadcast.urgent,
            local_time=broadcast.local_time,
        )
        return broadcast_id

    async def get(self, broadcast_id: int) -> FakeBroadcast | None:
        return self._t.broadcasts.get(broadcast_id)

    async def recent(self, limit: int) -> list[FakeBroadcast]:
        return sorted(self._t.broadcasts.values(), key=lambda b: b.id, reverse=True)[:limit]

    async def due(self, now: datetime) -> list[FakeBroadcast]:
        due = [
            b
            for b in self._t.broadcasts.values()
            if b.status == BroadcastStatus.SCHEDULED.value and b.send_at <= now
        ]
        return sorted(due, key=lambda b: (b.send_at, b.id))

    async def move(
        self, broadcast_id: int, to: BroadcastStatus, allowed_from: Sequence[BroadcastStatus]
    ) -> bool:
        row = self._t.broadcasts.get(broadcast_id)
        if row is None or row.status not in {s.value for s in allowed_from}:
            return False
        self._t.broadcasts[broadcast_id] = replace(row, status=to.value)
        return True

    async def record(self, broadcast_id: int, staff_id: int, action: str, at: datetime) -> None:
        action_id = self._t.next_id("broadcast_actions")
        self._t.broadcast_actions[action_id] = FakeBroadcastAction(
            action_id, broadcast_id, staff_id, action, utc(at)
        )

    async def actions(self, broadcast_id: int) -> list[FakeBroadcastAction]:
        mine = [a for a in self._t.broadcast_actions.values() if a.broadcast_id == broadcast_id]
        return sorted(mine, key=lambda a: a.id)

    async def skip_queued(self, broadcast_id: int, reason: str, now: datetime) -> int:
        skipped = 0
        for push in list(self._t.pushes.values()):
            if push.broadcast_id == broadcast_id and (
                push.status == PLANNED
                or (
                    push.status == SENDING
                    and push.claimed_until is not None
                    and push.claimed_until < now
                )
            ):
                self._t.pushes[push.id] = replace(
                    push, status=SKIPPED, reason=reason, settled_at=utc(now), claimed_until=None
                )
                skipped += 1
        return skipped

    # -- who a push reaches
    def _in_audience(self, customer: CustomerRecord, audience: Audience, now: datetime) -> bool:
        t, me = self._t, customer.id
        if audience.stage is Stage.NEW and _recharged_since(t, me, None):
            return False
        if audience.stage is Stage.EXISTING and not _recharged_since(t, me, None):
            return False
        if audience.tier_at_least is not None and audience.tier_at_least > Tier.NORMAL:
            threshold = min(
                r.threshold.fen for r in DEFAULT_TIERS if r.tier >= audience.tier_at_least
            )
            year_ago = now - timedelta(days=365)
            total = sum(
                o.amount_fen
                for o in _completed_recharges(t, me)
                if o.completed_at is not None and o.completed_at >= year_ago
            )
            if total < threshold:
                return False
        if audience.carrier is not None and not any(
            p.customer_id == me and p.carrier == audience.carrier.value for p in t.phones.values()
        ):
            return False
        if audience.recharged_within_days is not None:
            since = now - timedelta(days=audience.recharged_within_days)
            if _recharged_since(t, me, since) != audience.recharged:
                return False
        if audience.took_offer_of is not None:
            offers = {o.id for o in t.offers.values() if o.campaign_id == audience.took_offer_of}
            took = any(
                c.customer_id == me and c.status in CLAIMS_THAT_COUNT and c.offer_id in offers
                for c in t.claims.values()
            )
            if took != audience.took:
                return False
        if audience.reminders_of is not None and not any(
            s.customer_id == me and s.campaign_id == audience.reminders_of
            for s in t.reminder_subscriptions.values()
        ):
            return False
        return not audience.inviters or any(r.inviter_id == me for r in t.referrals.values())

    def _audience(self, audience: Audience, now: datetime) -> list[CustomerRecord]:
        """The customers (not erased) of the audience, by id."""
        return [
            c
            for _, c in sorted(self._t.customers.items())
            if c.telegram_id is not None and self._in_audience(c, audience, now)
        ]

    def _reachable(self, customer_id: int, consent_required: bool) -> bool:
        return (
            customer_id not in self._t.push_opt_outs
            and customer_id not in self._t.unreachable
            and (not consent_required or self._agreed(customer_id))
        )

    def _capped(self, customer_id: int, cap_scope: str, cap: int) -> bool:
        used = self._t.allowances.get((customer_id, cap_scope))
        return used is not None and used >= cap

    async def reach(
        self,
        audience: Audience,
        now: datetime,
        cap_scope: str,
        cap: int,
        consent_required: bool = False,
    ) -> tuple[int, dict[PushSkip, int]]:
        matching = self._audience(audience, now)
        excluded: Counter[PushSkip] = Counter()
        for customer in matching:
            me = customer.id
            if me in self._t.push_opt_outs:
                excluded[PushSkip.OPTED_OUT] += 1
            elif consent_required and not self._agreed(me):
                excluded[PushSkip.NO_CONSENT] += 1
            elif me in self._t.unreachable:
                excluded[PushSkip.UNREACHABLE] += 1
            elif self._capped(me, cap_scope, cap):
                excluded[PushSkip.FREQUENCY_CAP] += 1
        return len(matching), dict(excluded)

    async def reachable_ids(
        self,
        audience: Audience,
        now: datetime,
        cap_scope: str,
        cap: int,
        consent_required: bool = False,
    ) -> list[int]:
        return [
            c.id
            for c in self._audience(audience, now)
            if self._reachable(c.id, consent_required) and not self._capped(c.id, cap_scope, cap)
        ]

    # -- planning
    async def top_customer_id(self) -> int:
        return max(self._t.customers, default=0)

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
        kept = {(p.broadcast_id, p.customer_id) for p in self._t.pushes.values()}
        added = 0
        for customer in self._audience(audience, now):
            me = customer.id
            if (
                not after_id < me <= up_to_id
                or not self._reachable(me, consent_required)
                or (broadcast_id, me) in kept
                or customer.telegram_id is None
            ):
                continue
            send_at = None
            if send_times is not None:
                by_zone, otherwise = send_times
                zone = self._t.time_zones.get(me)
                send_at = utc(by_zone.get(zone, otherwise) if zone is not None else otherwise)
            push_id = self._t.next_id("pushes")
            self._t.pushes[push_id] = FakePush(
                id=push_id,
                broadcast_id=broadcast_id,
                customer_id=me,
                chat_id=customer.telegram_id,
                variant=variant_of(bucket_of(me, broadcast_id), shares) if len(shares) > 1 else 0,
                status=PLANNED,
                planned_at=utc(now),
                send_at=send_at,
            )
            added += 1
        return added

    async def planned_through(self, broadcast_id: int, through: int, finished: bool) -> None:
        row = self._t.broadcasts.get(broadcast_id)
        if row is not None:
            self._t.broadcasts[broadcast_id] = replace(
                row, planned_through=through, planned=finished
            )

    # -- sending
    def _take(
        self, found: list[FakePush], until: datetime, limit: int, status: str, attempt: bool
    ) -> list[FakePush]:
        taken = []
        for push in sorted(found, key=lambda p: p.id)[:limit]:
            claimed = replace(
                push,
                status=status,
                claimed_until=utc(until),
                attempts=push.attempts + 1 if attempt else push.attempts,
            )
            self._t.pushes[push.id] = claimed
            taken.append(claimed)
        return taken

    def _lapsed(self, status: str, now: datetime) -> list[FakePush]:
        return [
            p
            for p in self._t.pushes.values()
            if p.status == status and p.claimed_until is not None and p.claimed_until < now
        ]

    async def claim(
        self,
        broadcast_ids: Sequence[int],
        now: datetime,
        until: datetime,
        limit: int,
        lapsed_by: datetime | None = None,
    ) -> list[FakePush]:
        mine = set(broadcast_ids)
        by = now if lapsed_by is None else lapsed_by
        lapsed = [p for p in self._lapsed(SENDING, by) if p.broadcast_id in mine]
        taken = self._take(lapsed, until, limit, SENDING, True)
        if len(taken) < limit:
            planned = [
                p
                for p in self._t.pushes.values()
                if p.broadcast_id in mine
                and p.status == PLANNED
                and (p.send_at is None or p.send_at <= now)
            ]
            taken += self._take(planned, until, limit - len(taken), SENDING, True)
        return sorted(taken, key=lambda p: p.id)

    def _change(self, outbox_id: int, at_status: str, **values: object) -> FakePush | None:
        """The push changed when it is at `at_status`; None when it is not."""
        push = self._t.pushes.get(outbox_id)
        if push is None or push.status != at_status:
            return None
        changed = replace(push, **values)  # type: ignore[arg-type]
        self._t.pushes[outbox_id] = changed
        return changed

    async def defer(self, outbox_id: int, until: datetime) -> None:
        self._change(outbox_id, SENDING, status=PLANNED, claimed_until=None, send_at=utc(until))

    async def took_cap(self, outbox_id: int, scope: str) -> None:
        push = self._t.pushes.get(outbox_id)
        if push is not None:
            self._t.pushes[outbox_id] = replace(push, cap_scope=scope)

    async def settle(
        self,
        outbox_id: int,
        status: str,
        at: datetime,
        *,
        reason: str | None = None,
        message_id: int | None = None,
    ) -> FakePush | None:
        return self._change(
            outbox_id,
            SENDING,
            status=status,
            reason=_reason(reason),
            message_id=message_id,
            settled_at=utc(at),
            claimed_until=None,
        )

    async def release(self, ids: Iterable[int]) -> None:
        for outbox_id in ids:
            self._change(outbox_id, SENDING, status=PLANNED, claimed_until=None)

    async def finish_sent(self, now: datetime) -> list[int]:
        queued = {p.broadcast_id for p in self._t.pushes.values() if p.status in QUEUED}
        done = []
        for b in sorted(self._t.broadcasts.values(), key=lambda b: b.id):
            if (
                b.status == BroadcastStatus.SCHEDULED.value
                and b.planned
                and b.send_at <= now
                and b.id not in queued
            ):
                self._t.broadcasts[b.id] = replace(b, status=BroadcastStatus.DONE.value)
                done.append(b.id)
        return done

    def _push_of(self, broadcast_id: int, customer_id: int) -> FakePush | None:
        return next(
            (
                p
                for p in self._t.pushes.values()
                if (p.broadcast_id, p.customer_id) == (broadcast_id, customer_id)
            ),
            None,
        )

    async def pressed(self, broadcast_id: int, customer_id: int, at: datetime) -> bool:
        push = self._push_of(broadcast_id, customer_id)
        if push is None or push.pressed_at is not None:
            return False
        self._t.pushes[push.id] = replace(push, pressed_at=utc(at))
        return True

    async def outcomes(self, broadcast_id: int) -> list[PushOutcome]:
        found: list[PushOutcome] = []
        for p in sorted(self._t.pushes.values(), key=lambda p: p.id):
            if p.broadcast_id != broadcast_id or p.status not in DELIVERED:
                continue
            sent = p.settled_at
            since = [
                o.completed_at
                for o in _completed_recharges(self._t, p.customer_id)
                if sent is not None and o.completed_at is not None and o.completed_at >= sent
            ]
            found.append((p.variant, p.pressed_at is not None, sent, min(since, default=None)))
        return found

    async def was_sent(self, broadcast_id: int, customer_id: int) -> bool:
        push = self._push_of(broadcast_id, customer_id)
        return push is not None and push.status == SENT

    async def progress(self, broadcast_id: int) -> list[tuple[str, str | None, int]]:
        counts = Counter(
            (p.status, p.reason) for p in self._t.pushes.values() if p.broadcast_id == broadcast_id
        )
        return [(status, reason, n) for (status, reason), n in counts.items()]

    # -- customers' time zones
    async def time_zones(self) -> list[str]:
        return sorted({zone for zone in self._t.time_zones.values() if zone})

    async def time_zone(self, customer_id: int) -> str | None:
        return self._t.time_zones.get(customer_id)

    async def set_time_zone(self, customer_id: int, zone: str) -> None:
        if customer_id in self._t.customers:
            self._t.time_zones[customer_id] = zone

    # -- taking a broadcast back
    async def unsend(self, broadcast_id: int) -> int:
        count = 0
        for p in list(self._t.pushes.values()):
            if p.broadcast_id == broadcast_id and p.status == SENT and p.message_id is not None:
                self._t.pushes[p.id] = replace(p, status=UNSEND)
                count += 1
        return count

    async def claim_unsend(self, now: datetime, until: datetime, limit: int) -> list[FakePush]:
        taken = self._take(self._lapsed(UNSENDING, now), until, limit, UNSENDING, False)
        if len(taken) < limit:
            waiting = [p for p in self._t.pushes.values() if p.status == UNSEND]
            taken += self._take(waiting, until, limit - len(taken), UNSENDING, False)
        return taken

    async def unsent(self, outbox_id: int, reason: str | None) -> None:
        self._change(
            outbox_id, UNSENDING, status=UNSENT, claimed_until=None, reason=_reason(reason)
        )

    async def unsend_later(self, ids: Iterable[int]) -> None:
        for outbox_id in ids:
            self._change(outbox_id, UNSENDING, status=UNSEND, claimed_until=None)

    # -- surveys
    def _answer(self, broadcast_id: int, customer_id: int) -> FakeSurveyAnswer | None:
        return next(
            (
                a
                for a in self._t.survey_answers.values()
                if (a.broadcast_id, a.customer_id) == (broadcast_id, customer_id)
            ),
            None,
        )

    async def rate(
        self,
        broadcast_id: int,
        customer_id: int,
        campaign_id: int | None,
        rating: int,
        at: datetime,
    ) -> bool:
        if self._answer(broadcast_id, customer_id) is not None:
            return False
        answer_id = self._t.next_id("survey_answers")
        self._t.survey_answers[answer_id] = FakeSurveyAnswer(
            answer_id, broadcast_id, customer_id, campaign_id, rating, utc(at)
        )
        return True

    async def comment(self, broadcast_id: int, customer_id: int, text: str) -> bool:
        answer = self._answer(broadcast_id, customer_id)
        if answer is None or answer.comment is not None:
            return False
        self._t.survey_answers[answer.id] = replace(answer, comment=text)
        return True

    async def survey_results(self, since: datetime) -> list[tuple[int, str, str, int, float]]:
        ratings: dict[int, list[int]] = {}
        for a in self._t.survey_answers.values():
            if a.campaign_id in self._t.campaigns and a.at >= since:
                ratings.setdefault(a.campaign_id, []).append(a.rating)
        found = []
        for campaign_id, given in sorted(ratings.items()):
            campaign = self._t.campaigns[campaign_id]
            average = sum(given) / len(given)
            found.append((campaign_id, campaign.name_zh, campaign.name_en, len(given), average))
        return found
