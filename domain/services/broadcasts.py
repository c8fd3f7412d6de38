"""Campaign pushes: consent, creating a broadcast, planning its outbox, taking the due pushes
for sending (each checked again at that moment), recording what became of each, and staff's
pause, resume and cancel, each recorded with who and when.

Planning and claiming work in batches of short transactions, and planning yields to the event
loop between batches, so a broadcast to 100,000 customers never holds up a conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.broadcasts import (
    LOCAL_TIME_FORMAT,
    MAX_VARIANTS,
    RECHARGE_WINDOW,
    Audience,
    BroadcastStatus,
    PushContent,
    PushSkip,
    PushTarget,
    Reach,
    VariantReport,
    earliest_send_time,
    even_split,
    local_send_time,
    paid_cost,
    parse_time_zone,
    push_cap_scope,
    valid_split,
    zone_of,
)
from domain.clock import Clock, utc_now
from domain.languages import Language, parse_language
from domain.reminders import QuietHours
from domain.repositories.broadcasts import (
    FAILED,
    PLANNED,
    SENDING,
    SENT,
    SKIPPED,
    UNSEND,
    UNSENDING,
    UNSENT,
    BroadcastUnitOfWork,
    BroadcastUnitOfWorkFactory,
    BroadcastView,
    NewBroadcast,
    PushView,
)
from domain.services.loyalty import campaign_of, held_out
from domain.services.pending_records import lapsed_by


@dataclass(frozen=True)
class BroadcastConfig:
    # Pushes a customer gets a day (China time), across every broadcast.
    daily_cap: int = 1
    quiet_hours: QuietHours = field(default_factory=lambda: QuietHours.parse("22:00-08:00"))
    # The customers' time zone for quiet hours.
    timezone: str = "Asia/Shanghai"
    # How long a sender holds a claimed push; one killed midway lets it lapse after this.
    claim_seconds: float = 300.0
    # Customers planned per transaction.
    plan_batch: int = 2000
    # Privacy consent is required (PIPL): pushes only to customers who agreed to marketing.
    consent_required: bool = False
    # Paid broadcasts: a broadcast staff mark urgent goes out with Telegram's
    # allow_paid_broadcast, at up to `paid_per_second`, each message beyond the free rate
    # costing `paid_stars` Telegram Stars. Not allowed: nothing is ever sent paid.
    paid_allowed: bool = False
    paid_per_second: int = 1000
    paid_stars: Decimal = Decimal("0.1")


@dataclass(frozen=True)
class DuePush:
    """A push to send now."""

    outbox_id: int
    broadcast_id: int
    customer_id: int
    chat_id: int
    language: Language
    text: str
    targets: tuple[PushTarget, ...]
    variant: int
    # A picture sent with the text as its caption (Telegram's file id).
    photo: str | None = None
    # The buttons are deep links into the bot rather than typed button data.
    links: bool = False
    # Sent as a paid broadcast (an urgent broadcast, paid broadcasts allowed).
    paid: bool = False


@dataclass(frozen=True)
class BroadcastProgress:
    broadcast_id: int
    status: BroadcastStatus
    send_at: datetime
    text_zh: str
    text_en: str
    planned: bool
    queued: int
    sent: int
    failed: int
    # Sent, then taken back: deleted from the chats (or being deleted).
    deleted: int
    # Skipped, by reason.
    skipped: dict[str, int]
    # Sent as a paid broadcast (marked urgent by staff).
    urgent: bool = False
    # Sent at this local time (LOCAL_TIME_FORMAT) in each customer's own time zone; None: at
    # `send_at`.
    local_time: str | None = None

    @property
    def total(self) -> int:
        return self.queued + self.sent + self.failed + sum(self.skipped.values())


# A recharge this soon after a push counts for it in the report.
# Campaigns offered to choose from in the broadcast conversation.
MAX_CAMPAIGN_CHOICES = 10


@dataclass(frozen=True)
class CampaignChoice:
    campaign_id: int
    name_zh: str
    name_en: str
    ends_at: datetime

    def name(self, language: Language) -> str:
        return self.name_en if language is Language.EN else self.name_zh


# The longest survey comment kept.
MAX_COMMENT = 500


@dataclass(frozen=True)
class SurveyResult:
    campaign_id: int
    name_zh: str
    name_en: str
    answers: int
    average: float

    def name(self, language: Language) -> str:
        return self.name_en if language is Language.EN else self.name_zh


@dataclass(frozen=True)
class SentPush:
    """A push sent to a chat, to be deleted from it."""

    outbox_id: int
    chat_id: int
    message_id: int


@dataclass(frozen=True)
class Claimed:
    """Pushes taken for sending: those to send now, and how many rows were taken in all
    (the rest were skipped with their reason)."""

    due: list[DuePush]
    taken: int


class BroadcastNotFound(LookupError):
    pass


class PaidBroadcastsOff(ValueError):
    """A broadcast marked urgent while paid broadcasts are not allowed."""


@dataclass(frozen=True)
class PaidQuote:
    """What sending a broadcast as a paid one means: its recipients, the rate, and the most it
    costs in Telegram Stars (recipients x the price of one message)."""

    recipients: int
    per_second: int
    stars_per_message: Decimal
    stars: Decimal


class BroadcastService:
    def __init__(
        self,
        uow: BroadcastUnitOfWorkFactory,
        config: BroadcastConfig | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self.config = config or BroadcastConfig()
        self._clock = clock
        # The bot's @username, for pushes whose buttons are deep links (t.me/<bot>?start=...):
        # from settings or the front end's getMe; None until known (typed button data then).
        self.bot_username: str | None = None

    def now(self) -> datetime:
        return self._clock()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    # -- consent ------------------------------------------------------------------------------
    async def pushes_on(self, customer_id: int) -> bool:
        async with self._uow.read() as uow:
            return customer_id not in await uow.broadcasts.opted_out([customer_id])

    async def turn_pushes(self, customer_id: int, on: bool) -> int:
        """Pushes on or off for the customer. Off stops every push queued for them in the same
        transaction; returns how many were stopped."""
        async with self._uow() as uow:
            if on:
                await uow.broadcasts.opt_in(customer_id)
                await uow.reminders.mark_reachable(customer_id)
                stopped = 0
            else:
                stopped = await uow.broadcasts.opt_out(customer_id, self._clock())
            await uow.commit()
        return stopped

    async def pressed(self, broadcast_id: int, customer_id: int) -> None:
        """The customer pressed a button of the broadcast's push (counted once)."""
        async with self._uow() as uow:
            await uow.broadcasts.pressed(broadcast_id, customer_id, self._clock())
            await uow.commit()

    async def opened(self, broadcast_id: int, customer_id: int) -> bool:
        """The customer came in through a deep link of the broadcast's push: counted as a
        press (once, and only for a customer the push was sent to). False when there is no
        such broadcast. Broadcast 0 is a staff member's test push: nothing to count."""
        if broadcast_id == 0:
            return True
        async with self._uow() as uow:
            if await uow.broadcasts.get(broadcast_id) is None:
                return False
            await uow.broadcasts.pressed(broadcast_id, customer_id, self._clock())
            await uow.commit()
        return True

    # -- post-campaign surveys ----------------------------------------------------------------
    async def survey_of(self, broadcast_id: int) -> CampaignChoice | None:
        """The campaign a survey push asks about (None: the push is about no campaign, or
        there is no such push)."""
        async with self._uow.read() as uow:
            row = await uow.broadcasts.get(broadcast_id)
            if row is None or row.campaign_id is None:
                return None
            found = await uow.reminders.campaign(row.campaign_id)
        if found is None:
            return None
        campaign = found[0]
        return CampaignChoice(campaign.id, campaign.name_zh, campaign.name_en, campaign.ends_at)

    async def rate(self, broadcast_id: int, customer_id: int, rating: int) -> bool:
        """A rating from 1 to 5 of the survey's campaign; False when out of range, not a
        survey this customer was sent, or rated before (the first rating stays)."""
        if not 1 <= rating <= 5:
            return False
        async with self._uow() as uow:
            row = await uow.broadcasts.get(broadcast_id)
            if row is None or PushTarget.SURVEY.value not in row.targets:
                return False
            if not await uow.broadcasts.was_sent(broadcast_id, customer_id):
                return False
            done = await uow.broadcasts.rate(
                broadcast_id, customer_id, row.campaign_id, rating, self._clock()
            )
            await uow.commit()
        return done

    async def comment(self, broadcast_id: int, customer_id: int, text: str) -> bool:
        async with self._uow() as uow:
            done = await uow.broadcasts.comment(broadcast_id, customer_id, text[:MAX_COMMENT])
            await uow.commit()
        return done

    async def survey_results(self, days: int) -> list[SurveyResult]:
        """Post-campaign survey answers of the last `days` days, by campaign."""
        since = self._clock() - timedelta(days=days)
        async with self._uow.read() as uow:
            rows = await uow.broadcasts.survey_results(since)
        return [SurveyResult(*row) for row in rows]

    # -- staff --------------------------------------------------------------------------------
    async def create(
        self,
        content: PushContent,
        staff_id: int,
        *,
        audience: Audience | None = None,
        campaign_id: int | None = None,
        offer_id: int | None = None,
        send_at: datetime | None = None,
        variants: Sequence[PushContent] = (),
        shares: tuple[int, ...] | None = None,
        urgent: bool = False,
        local_time: datetime | None = None,
    ) -> int:
        """A broadcast scheduled for `send_at` (now when None); recorded as created and sent
        by `staff_id`. `variants` are more texts (B, C) for an A/B test, split by `shares`
        (evenly when None). `urgent` (only when paid broadcasts are allowed) sends it as a
        paid broadcast, recorded too. `local_time` (naive) sends it at that local time in each
        customer's own time zone, outside their quiet hours, in place of `send_at`."""
        if urgent and not self.config.paid_allowed:
            raise PaidBroadcastsOff()
        now = self._clock()
        if local_time is not None:
            send_at = earliest_send_time(local_time)
        texts = [content, *variants][:MAX_VARIANTS]
        split = shares if shares and valid_split(shares, len(texts)) else even_split(len(texts))
        stored = (
            [
                {"zh": text.text_zh, "en": text.text_en, "share": share}
                for text, share in zip(texts, split, strict=True)
            ]
            if len(texts) > 1
            else None
        )
        async with self._uow() as uow:
            broadcast_id = await uow.broadcasts.add(
                NewBroadcast(
                    status=BroadcastStatus.SCHEDULED.value,
                    text_zh=content.text_zh,
                    text_en=content.text_en,
                    targets=[target.value for target in content.targets],
                    audience=(audience or Audience()).to_json(),
                    campaign_id=campaign_id,
                    offer_id=offer_id,
                    send_at=send_at or now,
                    variants=stored,
                    created_by=staff_id,
                    created_at=now,
                    photo=content.photo,
                    links=content.links,
                    urgent=urgent,
                    local_time=(
                        local_time.strftime(LOCAL_TIME_FORMAT) if local_time is not None else None
                    ),
                )
            )
            await uow.broadcasts.record(broadcast_id, staff_id, "create", now)
            if urgent:
                await uow.broadcasts.record(broadcast_id, staff_id, "urgent", now)
                await _audit(uow, AuditAction.BROADCAST_URGENT, staff_id, broadcast_id, now)
            await uow.broadcasts.record(broadcast_id, staff_id, "send", now)
            await _audit(uow, AuditAction.BROADCAST_SENT, staff_id, broadcast_id, now)
            await uow.commit()
        return broadcast_id

    async def campaigns(self) -> list[CampaignChoice]:
        """Campaigns a broadcast may be about or aim at (any not ended yet, and those ended
        within the last 30 days for "took its offer" segments), newest first."""
        since = self._clock() - timedelta(days=30)
        async with self._uow.read() as uow:
            rows = await uow.campaigns.all()
        return [
            CampaignChoice(row.id, row.name_zh, row.name_en, row.ends_at)
            for row in reversed(rows)
            if row.ends_at > since
        ][:MAX_CAMPAIGN_CHOICES]

    async def reach(self, audience: Audience, about: int | None = None) -> Reach:
        """How many customers the audience holds now, and who of them a push would miss
        (about campaign `about`: its control group too)."""
        now = self._clock()
        scope = push_cap_scope(now)
        async with self._uow.read() as uow:
            required = self.config.consent_required
            matching, excluded = await uow.broadcasts.reach(
                audience, now, scope, self.config.daily_cap, required
            )
            if about is not None:
                reachable = await uow.broadcasts.reachable_ids(
                    audience, now, scope, self.config.daily_cap, required
                )
                control = len(await self._held_out(uow, about, reachable))
                if control:
                    excluded = {**excluded, PushSkip.HOLDOUT: control}
        return Reach(matching, excluded)

    def paid_quote(self, recipients: int) -> PaidQuote:
        """The cost of a paid broadcast to `recipients` customers, shown before sending."""
        price = self.config.paid_stars
        return PaidQuote(
            recipients, self.config.paid_per_second, price, paid_cost(recipients, price)
        )

    async def pause(self, broadcast_id: int, staff_id: int) -> bool:
        return await self._move(
            broadcast_id, staff_id, "pause", BroadcastStatus.PAUSED, (BroadcastStatus.SCHEDULED,)
        )

    async def resume(self, broadcast_id: int, staff_id: int) -> bool:
        return await self._move(
            broadcast_id, staff_id, "resume", BroadcastStatus.SCHEDULED, (BroadcastStatus.PAUSED,)
        )

    async def cancel(self, broadcast_id: int, staff_id: int) -> bool:
        """Nothing more of the broadcast is sent: every queued push is skipped at once."""
        return await self._move(
            broadcast_id,
            staff_id,
            "cancel",
            BroadcastStatus.CANCELLED,
            (BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED, BroadcastStatus.DRAFT),
        )

    async def _move(
        self,
        broadcast_id: int,
        staff_id: int,
        action: str,
        to: BroadcastStatus,
        allowed_from: Sequence[BroadcastStatus],
    ) -> bool:
        now = self._clock()
        async with self._uow() as uow:
            if not await uow.broadcasts.move(broadcast_id, to, allowed_from):
                return False
            if to is BroadcastStatus.CANCELLED:
                await uow.broadcasts.skip_queued(broadcast_id, PushSkip.CANCELLED.value, now)
            await uow.broadcasts.record(broadcast_id, staff_id, action, now)
            await _audit(uow, AUDITED[action], staff_id, broadcast_id, now)
            await uow.commit()
        return True

    async def delete(self, broadcast_id: int, staff_id: int) -> int | None:
        """Take a broadcast back: nothing more is sent (queued pushes are skipped) and every
        push sent is deleted from its chat by the sweep. How many messages are to be deleted;
        None when there is no such broadcast."""
        now = self._clock()
        async with self._uow() as uow:
            if await uow.broadcasts.get(broadcast_id) is None:
                return None
            active = (BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED, BroadcastStatus.DRAFT)
            if await uow.broadcasts.move(broadcast_id, BroadcastStatus.CANCELLED, active):
                await uow.broadcasts.skip_queued(broadcast_id, PushSkip.CANCELLED.value, now)
            count = await uow.broadcasts.unsend(broadcast_id)
            await uow.broadcasts.record(broadcast_id, staff_id, "delete", now)
            await _audit(uow, AuditAction.BROADCAST_DELETED, staff_id, broadcast_id, now)
            await uow.commit()
        return count

    async def claim_unsend(self, limit: int) -> list[SentPush]:
        """Take up to `limit` sent pushes to delete from their chats."""
        now = self._clock()
        until = now + timedelta(seconds=self.config.claim_seconds)
        async with self._uow() as uow:
            rows = await uow.broadcasts.claim_unsend(now, until, limit)
            await uow.commit()
        return [SentPush(row.id, row.chat_id, row.message_id or 0) for row in rows]

    async def unsent(self, outbox_id: int, reason: str | None = None) -> None:
        async with self._uow() as uow:
            await uow.broadcasts.unsent(outbox_id, reason)
            await uow.commit()

    async def unsend_later(self, outbox_ids: Sequence[int]) -> None:
        async with self._uow() as uow:
            await uow.broadcasts.unsend_later(outbox_ids)
            await uow.commit()

    async def actions(self, broadcast_id: int) -> list[tuple[int, str, datetime]]:
        """(staff id, action, when) of everything staff did to the broadcast, in order."""
        async with self._uow.read() as uow:
            rows = await uow.broadcasts.actions(broadcast_id)
        return [(row.staff_id, row.action, row.at) for row in rows]

    async def report(self, broadcast_id: int) -> list[VariantReport]:
        """Per variant: delivered, pressed a button, recharged within 24 hours of the push."""
        async with self._uow.read() as uow:
            row = await uow.broadcasts.get(broadcast_id)
            if row is None:
                raise BroadcastNotFound(broadcast_id)
            outcomes = await uow.broadcasts.outcomes(broadcast_id)
        shares = _shares(row)
        found = []
        for variant, share in enumerate(shares):
            mine = [o for o in outcomes if o[0] == variant]
            found.append(
                VariantReport(
                    variant=variant,
                    share=share,
                    delivered=len(mine),
                    pressed=sum(1 for o in mine if o[1]),
                    recharged=sum(
                        1
                        for _, _, sent, first in mine
                        if sent is not None
                        and first is not None
                        and first - sent <= RECHARGE_WINDOW
                    ),
                    text_zh=_text(row, variant, Language.ZH_CN),
                    text_en=_text(row, variant, Language.EN),
                )
            )
        return found

    async def progress(self, broadcast_id: int) -> BroadcastProgress:
        async with self._uow.read() as uow:
            row = await uow.broadcasts.get(broadcast_id)
            if row is None:
                raise BroadcastNotFound(broadcast_id)
            counts = await uow.broadcasts.progress(broadcast_id)
        return _progress(row, counts)

    async def recent(self, limit: int = 10) -> list[BroadcastProgress]:
        async with self._uow.read() as uow:
            found = []
            for row in await uow.broadcasts.recent(limit):
                found.append(_progress(row, await uow.broadcasts.progress(row.id)))
        return found

    # -- planning -----------------------------------------------------------------------------
    async def plan(self) -> int:
        """Plan the outbox of every broadcast whose time has come, in short batches; safe to
        run twice or at once (a unique key per broadcast and customer). How many were added."""
        now = self._clock()
        async with self._uow.read() as uow:
            due = [row for row in await uow.broadcasts.due(now) if not row.planned]
            top = await uow.broadcasts.top_customer_id()
        planned = 0
        for row in due:
            planned += await self._plan_one(row, top, now)
        return planned

    async def send_times(self, local: str) -> tuple[dict[str, datetime], datetime]:
        """When a push for the local time `local` goes to the customers of each time zone
        chosen, and to everyone else (the default zone): that time there, or the end of
        their quiet hours."""
        moment = datetime.strptime(local, LOCAL_TIME_FORMAT)
        quiet = self.config.quiet_hours
        async with self._uow.read() as uow:
            zones = await uow.broadcasts.time_zones()
        by_zone = {zone: local_send_time(moment, zone_of(zone), quiet) for zone in zones}
        return by_zone, local_send_time(moment, self.zone, quiet)

    async def time_zone(self, customer_id: int) -> str:
        """The customer's time zone for pushes at a local time (the default until chosen)."""
        async with self._uow.read() as uow:
            zone = await uow.broadcasts.time_zone(customer_id)
        return zone or self.config.timezone

    async def set_time_zone(self, customer_id: int, name: str) -> str | None:
        """The customer's time zone set to the one `name` names; None (nothing changed) when it
        names none."""
        zone = parse_time_zone(name)
        if zone is None:
            return None
        async with self._uow() as uow:
            await uow.broadcasts.set_time_zone(customer_id, zone)
            await uow.commit()
        return zone

    async def _plan_one(self, row: BroadcastView, top: int, now: datetime) -> int:
        audience = Audience.from_json(row.audience)
        after = row.planned_through
        planned = 0
        send_times = await self.send_times(row.local_time) if row.local_time else None
        while True:
            upto = min(after + self.config.plan_batch, top)
            async with self._uow() as uow:
                if upto > after:
                    planned += await uow.broadcasts.plan(
                        row.id,
                        audience,
                        after,
                        upto,
                        now,
                        _shares(row),
                        self.config.consent_required,
                        send_times,
                    )
                await uow.broadcasts.planned_through(row.id, upto, finished=upto >= top)
                await uow.commit()
            after = upto
            await asyncio.sleep(0)  # let conversations run between batches
            if after >= top:
                return planned

    # -- sending ------------------------------------------------------------------------------
    def in_quiet_hours(self, now: datetime) -> bool:
        return self.config.quiet_hours.end_after(now, self.zone) != now

    async def claim_due(self, limit: int, *, take_over: bool = True) -> Claimed:
        """Take up to `limit` pushes for sending, each checked again now: one to a customer who
        turned pushes off, blocked the bot or was erased, past the day's frequency cap, or about
        an offer they took or that sold out or ended, is skipped with its reason. One to a
        customer in their quiet hours (in their own time zone) waits for their end. Pushes
        whose sender's claim lapsed are taken over only with `take_over`."""
        now = self._clock()
        until = now + timedelta(seconds=self.config.claim_seconds)
        lapsed = lapsed_by(now, take_over)
        async with self._uow() as uow:
            broadcasts = {row.id: row for row in await uow.broadcasts.due(now)}
            rows = await uow.broadcasts.claim(list(broadcasts), now, until, limit, lapsed)
            if not rows:
                await uow.commit()
                return Claimed([], 0)
            due = await self._check(uow, rows, broadcasts, now)
            await uow.commit()
        return Claimed(due, len(rows))

    async def _check(
        self,
        uow: BroadcastUnitOfWork,
        rows: Sequence[PushView],
        broadcasts: dict[int, BroadcastView],
        now: datetime,
    ) -> list[DuePush]:
        customer_ids = [row.customer_id for row in rows]
        customers = await uow.reminders.customers(customer_ids)
        opted_out = await uow.broadcasts.opted_out(customer_ids)
        refused = (
            await uow.broadcasts.marketing_refused(customer_ids)
            if self.config.consent_required
            else set()
        )
        unreachable = await uow.reminders.unreachable(customer_ids)
        about = {b.id: await self._about(uow, b, now) for b in broadcasts.values()}
        offer_ids = {offer for _, offers in about.values() for offer in offers}
        claimed = await uow.reminders.claimed_offers(customer_ids, offer_ids)
        held = {
            b.id: await self._held_out(uow, b.campaign_id, customer_ids)
            for b in broadcasts.values()
            if b.campaign_id is not None
        }
        due: list[DuePush] = []
        scope = push_cap_scope(now)
        for row in rows:
            broadcast = broadcasts[row.broadcast_id]
            customer = customers.get(row.customer_id)
            verdict: PushSkip | None = None
            over, offers = about[row.broadcast_id]
            if customer is not None and customer.telegram_id is not None:
                zone = zone_of(customer.timezone, self.config.timezone)
                quiet_until = self.config.quiet_hours.end_after(now, zone)
                if quiet_until != now:
                    await uow.broadcasts.defer(row.id, quiet_until)
                    continue
            if customer is None or customer.telegram_id is None:
                verdict = PushSkip.ERASED
            elif row.customer_id in opted_out:
                verdict = PushSkip.OPTED_OUT
            elif row.customer_id in refused:
                verdict = PushSkip.NO_CONSENT
            elif row.customer_id in unreachable:
                verdict = PushSkip.UNREACHABLE
            elif over is not None:
                verdict = over
            elif any((row.customer_id, offer) in claimed for offer in offers):
                verdict = PushSkip.TAKEN
            elif row.customer_id in held.get(row.broadcast_id, set()):
                verdict = PushSkip.HOLDOUT
            elif row.cap_scope is None:
                # The frequency cap: one conditional write, held however many senders run.
                if await uow.allowances.take(row.customer_id, scope, 1, self.config.daily_cap):
                    await uow.broadcasts.took_cap(row.id, scope)
                else:
                    verdict = PushSkip.FREQUENCY_CAP
            if verdict is not None:
                await self._settle_in(uow, row.id, SKIPPED, now, reason=verdict.value)
                continue
            language = parse_language(customer.language if customer else "") or Language.ZH_CN
            due.append(
                DuePush(
                    outbox_id=row.id,
                    broadcast_id=row.broadcast_id,
                    customer_id=row.customer_id,
                    chat_id=row.chat_id,
                    language=language,
                    text=_text(broadcast, row.variant, language),
                    targets=tuple(PushTarget(t) for t in broadcast.targets),
                    variant=row.variant,
                    photo=broadcast.photo,
                    links=broadcast.links,
                    paid=broadcast.urgent and self.config.paid_allowed,
                )
            )
        return due

    @staticmethod
    async def _held_out(
        uow: BroadcastUnitOfWork, campaign_id: int | None, customer_ids: Sequence[int]
    ) -> set[int]:
        """Of the customers, those in the control group of the campaign (never told of it)."""
        found = None if campaign_id is None else await uow.reminders.campaign(campaign_id)
        if found is None:
            return set()
        row = found[0]
        return {customer for customer in customer_ids if held_out(row, customer)}

    async def _about(
        self, uow: BroadcastUnitOfWork, broadcast: BroadcastView, now: datetime
    ) -> tuple[PushSkip | None, list[int]]:
        """Whether what the broadcast is about is over or sold out now, and its offers (a
        customer who took one of them gets no push about it). A survey asks about a campaign
        once it is over, of those who took part too: none of this holds it back."""
        if broadcast.campaign_id is None or PushTarget.SURVEY.value in broadcast.targets:
            return None, []
        found = await uow.reminders.campaign(broadcast.campaign_id)
        if found is None:
            return PushSkip.OVER, []
        row, offers = found
        if not campaign_of(row, offers).live_at(now):
            return PushSkip.OVER, []
        if broadcast.offer_id is not None:
            offers = [offer for offer in offers if offer.id == broadcast.offer_id]
            if not offers:
                return PushSkip.OVER, []
        limited = [offer for offer in offers if offer.quota is not None]
        if offers and len(limited) == len(offers):
            if all(offer.used >= (offer.quota or 0) for offer in limited):
                return PushSkip.SOLD_OUT, []
        return None, [offer.id for offer in offers]

    async def _settle_in(
        self,
        uow: BroadcastUnitOfWork,
        outbox_id: int,
        status: str,
        now: datetime,
        *,
        reason: str | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Settle a claimed push; one that did not arrive gives its frequency cap back."""
        row = await uow.broadcasts.settle(
            outbox_id, status, now, reason=reason, message_id=message_id
        )
        if row is None:
            return False
        if status != SENT and row.cap_scope is not None:
            await uow.allowances.give_back(row.customer_id, row.cap_scope, 1)
        return True

    async def sent(self, outbox_id: int, message_id: int | None) -> bool:
        async with self._uow() as uow:
            done = await self._settle_in(uow, outbox_id, SENT, self._clock(), message_id=message_id)
            await uow.commit()
        return done

    async def failed(self, outbox_id: int, reason: str) -> None:
        """Dead-lettered: given up on, with the reason."""
        async with self._uow() as uow:
            await self._settle_in(uow, outbox_id, FAILED, self._clock(), reason=reason)
            await uow.commit()

    async def blocked(self, outbox_id: int, customer_id: int, reason: str) -> None:
        """The customer blocked the bot: this push failed, and no more go to them."""
        now = self._clock()
        async with self._uow() as uow:
            await self._settle_in(uow, outbox_id, FAILED, now, reason=f"blocked: {reason}")
            await uow.reminders.mark_unreachable(customer_id, now)
            await uow.commit()

    async def release(self, outbox_ids: Sequence[int]) -> None:
        """Claimed pushes given back unsent (a sender stopping midway); the frequency cap they
        took stays with them, so sending them later takes nothing twice."""
        async with self._uow() as uow:
            await uow.broadcasts.release(outbox_ids)
            await uow.commit()

    async def finish(self) -> list[int]:
        """Broadcasts with nothing left to send become done; their ids."""
        async with self._uow() as uow:
            done = await uow.broadcasts.finish_sent(self._clock())
            await uow.commit()
        return list(done)


AUDITED = {
    "pause": AuditAction.BROADCAST_PAUSED,
    "resume": AuditAction.BROADCAST_RESUMED,
    "cancel": AuditAction.BROADCAST_CANCELLED,
}


async def _audit(
    uow: BroadcastUnitOfWork, action: AuditAction, staff_id: int, broadcast_id: int, at: datetime
) -> None:
    """The staff action in the audit trail too, in the same transaction."""
    await uow.audit.append(
        AuditEntry(action, ActorKind.STAFF, staff_id, f"broadcast:{broadcast_id}"), at
    )


def _shares(row: BroadcastView) -> tuple[int, ...]:
    return tuple(int(str(v.get("share", 0))) for v in row.variants or []) or (100,)


def _text(row: BroadcastView, variant: int, language: Language) -> str:
    """The text of one variant of the broadcast in the language."""
    key = "zh" if language is Language.ZH_CN else "en"
    if row.variants and 0 <= variant < len(row.variants):
        return str(row.variants[variant][key])
    return row.text_zh if language is Language.ZH_CN else row.text_en


def _progress(
    row: BroadcastView, counts: Sequence[tuple[str, str | None, int]]
) -> BroadcastProgress:
    skipped: dict[str, int] = {}
    totals = {PLANNED: 0, SENDING: 0, SENT: 0, FAILED: 0, UNSEND: 0, UNSENDING: 0, UNSENT: 0}
    for status, reason, count in counts:
        if status == SKIPPED:
            skipped[reason or ""] = skipped.get(reason or "", 0) + count
        else:
            totals[status] = totals.get(status, 0) + count
    return BroadcastProgress(
        broadcast_id=row.id,
        status=BroadcastStatus(row.status),
        send_at=row.send_at,
        text_zh=row.text_zh,
        text_en=row.text_en,
        planned=row.planned,
        queued=totals[PLANNED] + totals[SENDING],
        sent=totals[SENT] + totals[UNSEND] + totals[UNSENDING] + totals[UNSENT],
        failed=totals[FAILED],
        deleted=totals[UNSEND] + totals[UNSENDING] + totals[UNSENT],
        skipped=skipped,
        urgent=row.urgent,
        local_time=row.local_time,
    )
