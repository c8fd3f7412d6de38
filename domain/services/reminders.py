"""Countdown reminders: who asked for them, planning them into the outbox, taking the due ones
for sending (checked again at that moment), recording what became of each; and the lease that
lets one process run the scheduler.

Planning and claiming work in batches of short transactions, and planning yields to the event
loop between batches, so a sweep over 100,000 reminders never holds up a conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from domain.campaigns import Campaign, CampaignStatus, Offer
from domain.clock import Clock, utc_now
from domain.holdout import in_control
from domain.languages import DEFAULT_LANGUAGE, Language, parse_language
from domain.reminders import (
    WHOLE_CAMPAIGN,
    QuietHours,
    ReminderKind,
    SkipReason,
    countdown_plan,
    crossed,
    current_threshold,
    parse_key,
    slots_key,
    slots_reminder,
)
from domain.repositories.money import CampaignView, OfferView
from domain.repositories.reminders import (
    FAILED,
    PLANNED,
    SENDING,
    SENT,
    SKIPPED,
    ContactView,
    ReminderOutboxView,
    ReminderRepository,
    ReminderUnitOfWorkFactory,
)
from domain.services.loyalty import campaign_of
from domain.services.pending_records import lapsed_by

SCHEDULER_LEASE = "scheduler"


@dataclass(frozen=True)
class ReminderConfig:
    quiet_hours: QuietHours = field(default_factory=lambda: QuietHours.parse("22:00-08:00"))
    # The time zone of customers who never told us theirs.
    timezone: str = "Asia/Shanghai"
    # How long a sender holds a claimed reminder; one killed midway lets it lapse after this.
    claim_seconds: float = 300.0
    # Subscriptions planned per transaction.
    plan_batch: int = 500


@dataclass(frozen=True)
class Subscription:
    campaign_id: int
    campaign: Campaign
    # None: every reminder of the campaign.
    offer: Offer | None


@dataclass(frozen=True)
class SlotsLeft:
    offer: Offer
    offer_id: int
    left: int | None


@dataclass(frozen=True)
class DueReminder:
    """A reminder to send now, with what it says as of now."""

    outbox_id: int
    customer_id: int
    chat_id: int
    language: Language
    campaign_id: int
    campaign: Campaign
    kind: ReminderKind
    time_left: timedelta
    offers: tuple[SlotsLeft, ...]


@dataclass(frozen=True)
class DeliveryProgress:
    campaign_id: int
    campaign: Campaign
    planned: int
    sent: int
    pending: int
    failed: int
    skipped: int


@dataclass
class _CampaignNow:
    row: CampaignView
    campaign: Campaign
    offers: Sequence[OfferView]

    def slots(self) -> dict[str, SlotsLeft]:
        return {
            row.code: SlotsLeft(offer, row.id, None if row.quota is None else row.quota - row.used)
            for row, offer in zip(self.offers, self.campaign.offers, strict=True)
        }


class ReminderService:
    def __init__(
        self,
        uow: ReminderUnitOfWorkFactory,
        config: ReminderConfig | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self.config = config or ReminderConfig()
        self._clock = clock
        # Subscriptions already planned per (campaign, zone, key, due): a sweep only looks at
        # newer ones. After a restart the first sweep looks at all (planning is idempotent).
        self._planned_through: dict[tuple[int, str, str, datetime | None], int] = {}

    def now(self) -> datetime:
        return self._clock()

    # -- what customers ask for ---------------------------------------------------------------
    async def toggle(self, customer_id: int, chat_id: int, campaign_id: int, scope: str) -> bool:
        """Subscribe to a campaign's reminders (one offer's, or all with "*"), or unsubscribe
        when already subscribed. True when subscribed now; never for a customer the campaign
        holds out (its control group gets none of its reminders)."""
        async with self._uow() as uow:
            reminders = uow.reminders
            loaded = await _load_campaign(reminders, campaign_id)
            if loaded is not None and in_control(
                loaded.campaign.code, customer_id, loaded.campaign.holdout_percent
            ):
                return False
            subscribed = await reminders.subscribe(
                customer_id, campaign_id, scope, chat_id, self.config.timezone, self._clock()
            )
            if not subscribed:
                await reminders.unsubscribe(customer_id, campaign_id, scope)
            await reminders.mark_reachable(customer_id)
            await uow.commit()
        return subscribed

    async def unsubscribe(self, customer_id: int, campaign_id: int) -> int:
        """Every reminder of the campaign off; how many subscriptions there were."""
        async with self._uow() as uow:
            removed = await uow.reminders.unsubscribe(customer_id, campaign_id, None)
            await uow.commit()
        return removed

    async def subscriptions(self, customer_id: int) -> list[Subscription]:
        """The customer's subscriptions to campaigns not yet over."""
        now = self._clock()
        async with self._uow.read() as uow:
            rows = await uow.reminders.subscriptions_of(customer_id)
            campaigns: dict[int, _CampaignNow] = {}
            found = []
            for row in rows:
                if row.campaign_id not in campaigns:
                    loaded = await _load_campaign(uow.reminders, row.campaign_id)
                    if loaded is None:
                        continue
                    campaigns[row.campaign_id] = loaded
                current = campaigns[row.campaign_id]
                if current.campaign.ends_at <= now:
                    continue
                offer = next((o for o in current.campaign.offers if o.code == row.scope), None)
                if row.scope != WHOLE_CAMPAIGN and offer is None:
                    continue
                found.append(Subscription(row.campaign_id, current.campaign, offer))
        return found

    async def subscribed_scopes(self, customer_id: int) -> set[tuple[int, str]]:
        async with self._uow.read() as uow:
            rows = await uow.reminders.subscriptions_of(customer_id)
        return {(row.campaign_id, row.scope) for row in rows}

    async def campaign_ids(self) -> dict[str, int]:
        async with self._uow.read() as uow:
            return {row.code: row.id for row in await uow.campaigns.all()}

    async def offer_of(self, offer_id: int) -> tuple[int, str] | None:
        """(campaign id, offer code) of an offer, or None."""
        async with self._uow.read() as uow:
            row = await uow.campaigns.offer(offer_id)
            return None if row is None else (row.campaign_id, row.code)

    async def campaign_exists(self, campaign_id: int) -> bool:
        async with self._uow.read() as uow:
            return await uow.campaigns.exists(campaign_id)

    # -- planning -----------------------------------------------------------------------------
    async def plan(self) -> int:
        """Plan every reminder now known: countdowns of campaigns not yet over, and slots-left
        reminders of offers whose remaining quota reached a threshold. Idempotent; returns how
        many reminders were added to the outbox."""
        now = self._clock()
        async with self._uow.read() as uow:
            rows = [
                row
                for row in await uow.campaigns.all()
                if row.ends_at > now and row.status == CampaignStatus.ACTIVE.value
            ]
            campaigns = []
            for row in rows:
                loaded = await _load_campaign(uow.reminders, row.id)
                if loaded is not None:
                    campaigns.append(loaded)
        planned = 0
        for current in campaigns:
            planned += await self._plan_campaign(current, now)
        return planned

    async def _plan_campaign(self, current: _CampaignNow, now: datetime) -> int:
        async with self._uow.read() as uow:
            zones = await uow.reminders.timezones(current.row.id)
        extra = current.row.extra or {}
        minutes = [int(m) for m in extra.get("countdown_minutes", []) or []]  # type: ignore[attr-defined]
        thresholds = [int(t) for t in extra.get("slots_left_reminders", []) or []]  # type: ignore[attr-defined]
        ends_at = current.campaign.ends_at
        planned = 0
        for zone_name, top in zones:
            zone = _zone(zone_name, self.config.timezone)
            for reminder in countdown_plan(ends_at, minutes, self.config.quiet_hours, zone):
                planned += await self._plan_key(
                    current.row.id,
                    zone_name,
                    top,
                    reminder.key,
                    reminder.due_at,
                    reminder.stale_at,
                    now,
                    scopes=None,
                    subscribed_by=reminder.due_at,
                )
            for code, slots in current.slots().items():
                if slots.left is None:
                    continue
                timing = slots_reminder(now, ends_at, self.config.quiet_hours, zone)
                if timing is None:
                    continue
                for threshold in crossed(slots.left, thresholds):
                    planned += await self._plan_key(
                        current.row.id,
                        zone_name,
                        top,
                        slots_key(threshold, code),
                        timing[0],
                        timing[1],
                        now,
                        scopes=(code, WHOLE_CAMPAIGN),
                        subscribed_by=None,
                    )
        return planned

    async def _plan_key(
        self,
        campaign_id: int,
        zone: str,
        top: int,
        key: str,
        due_at: datetime,
        stale_at: datetime,
        now: datetime,
        *,
        scopes: Sequence[str] | None,
        subscribed_by: datetime | None,
    ) -> int:
        mark = (campaign_id, zone, key, due_at if subscribed_by is not None else None)
        after = self._planned_through.get(mark, 0)
        planned = 0
        while after < top:
            upto = min(after + self.config.plan_batch, top)
            async with self._uow() as uow:
                planned += await uow.reminders.plan(
                    campaign_id=campaign_id,
                    timezone=zone,
                    after_id=after,
                    up_to_id=upto,
                    key=key,
                    due_at=due_at,
                    stale_at=stale_at,
                    now=now,
                    scopes=scopes,
                    subscribed_by=subscribed_by,
                )
                await uow.commit()
            after = upto
            self._planned_through[mark] = after
            await asyncio.sleep(0)  # let conversations run between batches
        return planned

    # -- sending ------------------------------------------------------------------------------
    async def claim_due(self, limit: int, *, take_over: bool = True) -> list[DueReminder]:
        """Take up to `limit` due reminders for sending, each checked again now: a reminder to
        a customer who claimed the deal, unsubscribed, blocked the bot or was erased, for a deal
        sold out or over, or overtaken by the next one, is skipped with its reason; one that
        falls in quiet hours now waits for their end. Reminders whose sender's claim lapsed are
        taken over only with `take_over`."""
        now = self._clock()
        until = now + timedelta(seconds=self.config.claim_seconds)
        async with self._uow() as uow:
            reminders = uow.reminders
            rows = await reminders.claim_due(now, until, limit, lapsed_by(now, take_over))
            if not rows:
                await uow.commit()
                return []
            customers = await reminders.customers(row.customer_id for row in rows)
            unreachable = await reminders.unreachable(row.customer_id for row in rows)
            scopes = await reminders.subscribed((r.customer_id, r.campaign_id) for r in rows)
            campaigns: dict[int, _CampaignNow | None] = {}
            for row in rows:
                if row.campaign_id not in campaigns:
                    campaigns[row.campaign_id] = await _load_campaign(reminders, row.campaign_id)
            offer_ids = {o.id for c in campaigns.values() if c is not None for o in c.offers}
            claimed = await reminders.claimed_offers((r.customer_id for r in rows), offer_ids)
            due: list[DueReminder] = []
            skipped: dict[int, str] = {}
            for row in rows:
                verdict = self._check(
                    row,
                    now,
                    customer_language=_language(customers.get(row.customer_id)),
                    unreachable=row.customer_id in unreachable,
                    scopes=scopes.get((row.customer_id, row.campaign_id), (set(), ""))[0],
                    current=campaigns[row.campaign_id],
                    claimed=claimed,
                    zone=scopes.get((row.customer_id, row.campaign_id), (set(), ""))[1],
                )
                if isinstance(verdict, DueReminder):
                    due.append(verdict)
                elif isinstance(verdict, datetime):
                    await reminders.postpone(row.id, verdict)
                else:
                    skipped[row.id] = verdict.value
            await reminders.skip(skipped, now)
            await uow.commit()
        return due

    def _check(
        self,
        row: ReminderOutboxView,
        now: datetime,
        *,
        customer_language: Language | None,
        unreachable: bool,
        scopes: set[str],
        current: _CampaignNow | None,
        claimed: set[tuple[int, int]],
        zone: str,
    ) -> DueReminder | datetime | SkipReason:
        """What to do with one claimed reminder now: send it, wait until then, or skip it."""
        if customer_language is None:
            return SkipReason.ERASED
        if unreachable:
            return SkipReason.UNREACHABLE
        if not scopes:
            return SkipReason.UNSUBSCRIBED
        if current is None or not current.campaign.live_at(now):
            return SkipReason.OVER
        if now >= row.stale_at:
            return SkipReason.LATE
        kind, threshold, offer_code = parse_key(row.reminder_key)
        slots = current.slots()
        if kind is ReminderKind.SLOTS_LEFT:
            if offer_code not in slots or not scopes & {offer_code, WHOLE_CAMPAIGN}:
                return SkipReason.UNSUBSCRIBED
            relevant = [slots[offer_code]] if offer_code else []
        elif WHOLE_CAMPAIGN in scopes:
            relevant = list(slots.values())
        else:
            relevant = [slots[code] for code in sorted(scopes) if code in slots]
        if not relevant:
            return SkipReason.UNSUBSCRIBED
        if any((row.customer_id, item.offer_id) in claimed for item in relevant):
            return SkipReason.CLAIMED
        if all(item.left is not None and item.left <= 0 for item in relevant):
            return SkipReason.SOLD_OUT
        if kind is ReminderKind.SLOTS_LEFT:
            left = relevant[0].left or 0
            extra = current.row.extra or {}
            thresholds = [int(t) for t in extra.get("slots_left_reminders", []) or []]  # type: ignore[attr-defined]
            if current_threshold(left, thresholds) != threshold:
                return SkipReason.SUPERSEDED
        quiet_end = self.config.quiet_hours.end_after(now, _zone(zone, self.config.timezone))
        if quiet_end != now:
            return quiet_end if quiet_end < row.stale_at else SkipReason.QUIET_HOURS
        return DueReminder(
            outbox_id=row.id,
            customer_id=row.customer_id,
            chat_id=row.chat_id,
            language=customer_language,
            campaign_id=row.campaign_id,
            campaign=current.campaign,
            kind=kind,
            time_left=current.campaign.ends_at - now,
            offers=tuple(item for item in relevant if item.left is None or item.left > 0),
        )

    async def sent(self, outbox_id: int, message_id: int | None) -> bool:
        async with self._uow() as uow:
            done = await uow.reminders.settle(outbox_id, SENT, self._clock(), message_id=message_id)
            await uow.commit()
        return done

    async def pressed(self, outbox_id: int, customer_id: int) -> None:
        """The customer pressed a button of their reminder (counted once: "opened")."""
        async with self._uow() as uow:
            await uow.reminders.pressed(outbox_id, customer_id, self._clock())
            await uow.commit()

    async def failed(self, outbox_id: int, reason: str) -> None:
        """Dead-lettered: given up on, with the reason."""
        async with self._uow() as uow:
            await uow.reminders.settle(outbox_id, FAILED, self._clock(), reason=reason)
            await uow.commit()

    async def blocked(self, outbox_id: int, customer_id: int, reason: str) -> None:
        """The customer blocked the bot: this reminder failed, and no more go to them."""
        now = self._clock()
        async with self._uow() as uow:
            reminders = uow.reminders
            await reminders.settle(outbox_id, FAILED, now, reason=f"blocked: {reason}")
            await reminders.mark_unreachable(customer_id, now)
            await uow.commit()

    async def release(self, outbox_ids: Sequence[int]) -> None:
        """Claimed reminders given back unsent (a sender stopping midway)."""
        async with self._uow() as uow:
            await uow.reminders.release(outbox_ids)
            await uow.commit()

    async def progress(self) -> list[DeliveryProgress]:
        async with self._uow.read() as uow:
            counts = await uow.reminders.progress()
            totals: dict[int, dict[str, int]] = {}
            for campaign_id, status, count in counts:
                totals.setdefault(campaign_id, {})[status] = count
            found = []
            for campaign_id, by_status in sorted(totals.items()):
                loaded = await _load_campaign(uow.reminders, campaign_id)
                if loaded is None:
                    continue
                found.append(
                    DeliveryProgress(
                        campaign_id,
                        loaded.campaign,
                        planned=sum(by_status.values()),
                        sent=by_status.get(SENT, 0),
                        pending=by_status.get(PLANNED, 0) + by_status.get(SENDING, 0),
                        failed=by_status.get(FAILED, 0),
                        skipped=by_status.get(SKIPPED, 0),
                    )
                )
        return found

    # -- the scheduler lease ------------------------------------------------------------------
    async def hold_lease(self, holder: str, seconds: float, name: str = SCHEDULER_LEASE) -> bool:
        """Take or renew the lease that lets one process run the scheduler's sweeps."""
        now = self._clock()
        async with self._uow() as uow:
            held = await uow.leases.hold(name, holder, now, now + timedelta(seconds=seconds))
            await uow.commit()
        return held

    async def release_lease(self, holder: str, name: str = SCHEDULER_LEASE) -> None:
        """On a clean exit: the next process runs the sweeps at once, not when it lapses."""
        async with self._uow() as uow:
            await uow.leases.release(name, holder)
            await uow.commit()


async def _load_campaign(reminders: ReminderRepository, campaign_id: int) -> _CampaignNow | None:
    found = await reminders.campaign(campaign_id)
    if found is None:
        return None
    row, offers = found
    return _CampaignNow(row, campaign_of(row, offers), offers)


def _language(customer: ContactView | None) -> Language | None:
    """The language to remind the customer in; None when they are gone (erased)."""
    if customer is None or customer.telegram_id is None:
        return None
    return parse_language(customer.language) or DEFAULT_LANGUAGE


def _zone(name: str, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo(fallback)
