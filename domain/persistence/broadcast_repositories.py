"""Repository of campaign pushes: broadcasts, their outbox, opt-outs and staff actions. It
never commits; every change is one conditional statement, or an insert that a unique key makes
idempotent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)

from domain.broadcasts import (
    BUCKET_BROADCAST_FACTOR,
    BUCKET_CUSTOMER_FACTOR,
    Audience,
    BroadcastStatus,
    PushSkip,
    Stage,
)
from domain.orders import OrderPurpose, OrderStatus
from domain.persistence import outbox
from domain.persistence.broadcast_tables import (
    BroadcastActionRow,
    BroadcastOutboxRow,
    BroadcastRow,
    PushOptOutRow,
    SurveyAnswerRow,
)
from domain.persistence.consent_tables import PrivacyConsentRow
from domain.persistence.core import Repository, insert_on_conflict
from domain.persistence.referral_tables import ReferralRow
from domain.persistence.reminder_tables import ReminderSubscriptionRow, UnreachableCustomerRow
from domain.persistence.tables import (
    AllowanceRow,
    CampaignRow,
    CustomerRow,
    OfferClaimRow,
    OfferRow,
    OrderRow,
    PhoneBindingRow,
)
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
from domain.tiers import DEFAULT_TIERS, Tier, TierRule


def marketing_agreed() -> ColumnElement[bool]:
    """The customer agreed to marketing pushes (PIPL consent, when it is required)."""
    return exists().where(
        PrivacyConsentRow.customer_id == CustomerRow.id, PrivacyConsentRow.marketing.is_(True)
    )


def reachable(consent_required: bool = False) -> list[ColumnElement[bool]]:
    """Customers a push may be planned for: not erased, pushes on, not blocked the bot, and
    agreed to marketing where consent is required."""
    found = [
        CustomerRow.telegram_id.is_not(None),
        ~exists().where(PushOptOutRow.customer_id == CustomerRow.id),
        ~exists().where(UnreachableCustomerRow.customer_id == CustomerRow.id),
    ]
    if consent_required:
        found.append(marketing_agreed())
    return found


def _completed_recharge(since: datetime | None = None) -> ColumnElement[bool]:
    conditions = [
        OrderRow.customer_id == CustomerRow.id,
        OrderRow.purpose == OrderPurpose.RECHARGE.value,
        OrderRow.status == OrderStatus.COMPLETED.value,
    ]
    if since is not None:
        conditions.append(OrderRow.completed_at >= since)
    return exists().where(*conditions)


def audience_conditions(
    audience: Audience, now: datetime, tiers: Sequence[TierRule] = DEFAULT_TIERS
) -> list[ColumnElement[bool]]:
    """The segments of an audience as conditions on customers (none: everyone)."""
    found: list[ColumnElement[bool]] = []
    if audience.stage is Stage.NEW:
        found.append(~_completed_recharge())
    elif audience.stage is Stage.EXISTING:
        found.append(_completed_recharge())
    if audience.tier_at_least is not None and audience.tier_at_least > Tier.NORMAL:
        threshold = min(r.threshold.fen for r in tiers if r.tier >= audience.tier_at_least)
        total = (
            select(func.coalesce(func.sum(OrderRow.amount_fen), 0))
            .where(
                OrderRow.customer_id == CustomerRow.id,
                OrderRow.purpose == OrderPurpose.RECHARGE.value,
                OrderRow.status == OrderStatus.COMPLETED.value,
                OrderRow.completed_at >= now - timedelta(days=365),
            )
            .scalar_subquery()
        )
        found.append(total >= threshold)
    if audience.carrier is not None:
        found.append(
            exists().where(
                PhoneBindingRow.customer_id == CustomerRow.id,
                PhoneBindingRow.carrier == audience.carrier.value,
            )
        )
    if audience.recharged_within_days is not None:
        recent = _completed_recharge(now - timedelta(days=audience.recharged_within_days))
        found.append(recent if audience.recharged else ~recent)
    if audience.took_offer_of is not None:
        took = exists().where(
            OfferClaimRow.customer_id == CustomerRow.id,
            OfferClaimRow.status.in_(CLAIMS_THAT_COUNT),
            OfferClaimRow.offer_id.in_(
                select(OfferRow.id).where(OfferRow.campaign_id == audience.took_offer_of)
            ),
        )
        found.append(took if audience.took else ~took)
    if audience.reminders_of is not None:
        found.append(
            exists().where(
                ReminderSubscriptionRow.customer_id == CustomerRow.id,
                ReminderSubscriptionRow.campaign_id == audience.reminders_of,
            )
        )
    if audience.inviters:
        found.append(exists().where(ReferralRow.inviter_id == CustomerRow.id))
    return found


def first_recharge_since(customer_id: Any, since: Any) -> Any:
    """The customer's first completed recharge at or after `since` (a correlated scalar): what
    a push or a reminder led to."""
    return (
        select(func.min(OrderRow.completed_at))
        .where(
            OrderRow.customer_id == customer_id,
            OrderRow.purpose == OrderPurpose.RECHARGE.value,
            OrderRow.status == OrderStatus.COMPLETED.value,
            OrderRow.completed_at >= since,
        )
        .scalar_subquery()
    )


def _variant(broadcast_id: int, shares: tuple[int, ...]) -> ColumnElement[int]:
    """`variant_of(bucket_of(customer, broadcast), shares)` as SQL, the same on both databases."""
    if len(shares) <= 1:
        return literal(0)
    bucket = (
        cast(CustomerRow.id, BigInteger) * BUCKET_CUSTOMER_FACTOR
        + broadcast_id * BUCKET_BROADCAST_FACTOR
    ) % 100
    edges = [sum(shares[: index + 1]) for index in range(len(shares) - 1)]
    return case(
        *((bucket < edge, literal(index)) for index, edge in enumerate(edges)),
        else_=literal(len(shares) - 1),
    )


class BroadcastRepository(Repository):
    # -- consent ------------------------------------------------------------------------------
    async def opt_out(self, customer_id: int, at: datetime) -> int:
        """Pushes off, and every push queued for the customer skipped in the same statement
        batch; how many queued pushes were stopped."""
        await self._session.execute(
            insert_on_conflict(self._session, PushOptOutRow)
            .values(customer_id=customer_id, since=at)
            .on_conflict_do_nothing()
        )
        result = await self._session.execute(
            update(BroadcastOutboxRow)
            .where(
                BroadcastOutboxRow.customer_id == customer_id,
                BroadcastOutboxRow.status == PLANNED,
            )
            .values(status=SKIPPED, reason="opted_out", settled_at=at)
            .returning(BroadcastOutboxRow.id)
            .execution_options(synchronize_session=False)
        )
        await self._marketing(customer_id, False)
        return len(result.all())

    async def opt_in(self, customer_id: int) -> None:
        await self._session.execute(
            delete(PushOptOutRow)
            .where(PushOptOutRow.customer_id == customer_id)
            .execution_options(synchronize_session=False)
        )
        await self._marketing(customer_id, True)

    async def _marketing(self, customer_id: int, agreed: bool) -> None:
        """The marketing choice kept with the customer's privacy consent, if they gave one."""
        await self._session.execute(
            update(PrivacyConsentRow)
            .where(PrivacyConsentRow.customer_id == customer_id)
            .values(marketing=agreed)
            .execution_options(synchronize_session=False)
        )

    async def marketing_refused(self, ids: Iterable[int]) -> set[int]:
        """Of the customers, those who have not agreed to marketing pushes."""
        wanted = set(ids)
        if not wanted:
            return set()
        result = await self._session.execute(
            select(PrivacyConsentRow.customer_id).where(
                PrivacyConsentRow.customer_id.in_(wanted), PrivacyConsentRow.marketing.is_(True)
            )
        )
        return wanted - set(result.scalars())

    async def opted_out(self, ids: Iterable[int]) -> set[int]:
        wanted = set(ids)
        if not wanted:
            return set()
        result = await self._session.execute(
            select(PushOptOutRow.customer_id).where(PushOptOutRow.customer_id.in_(wanted))
        )
        return set(result.scalars())

    # -- broadcasts ---------------------------------------------------------------------------
    async def add(self, broadcast: NewBroadcast) -> int:
        row = BroadcastRow(
            status=broadcast.status,
            text_zh=broadcast.text_zh,
            text_en=broadcast.text_en,
            targets=broadcast.targets,
            audience=broadcast.audience,
            campaign_id=broadcast.campaign_id,
            offer_id=broadcast.offer_id,
            send_at=broadcast.send_at,
            variants=broadcast.variants,
            created_by=broadcast.created_by,
            created_at=broadcast.created_at,
            planned_through=0,
            planned=False,
            photo=broadcast.photo,
            links=broadcast.links,
            urgent=broadcast.urgent,
            local_time=broadcast.local_time,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def get(self, broadcast_id: int) -> BroadcastRow | None:
        return await self._session.get(BroadcastRow, broadcast_id)

    async def many(self, ids: Iterable[int]) -> dict[int, BroadcastRow]:
        wanted = set(ids)
        if not wanted:
            return {}
        result = await self._session.execute(
            select(BroadcastRow).where(BroadcastRow.id.in_(wanted))
        )
        return {row.id: row for row in result.scalars()}

    async def recent(self, limit: int) -> list[BroadcastRow]:
        result = await self._session.execute(
            select(BroadcastRow).order_by(BroadcastRow.id.desc()).limit(limit)
        )
        return list(result.scalars())

    async def due(self, now: datetime) -> list[BroadcastRow]:
        """Broadcasts being sent: scheduled and their time has come."""
        result = await self._session.execute(
            select(BroadcastRow)
            .where(
                BroadcastRow.status == BroadcastStatus.SCHEDULED.value,
                BroadcastRow.send_at <= now,
            )
            .order_by(BroadcastRow.send_at, BroadcastRow.id)
        )
        return list(result.scalars())

    async def move(
        self, broadcast_id: int, to: BroadcastStatus, allowed_from: Sequence[BroadcastStatus]
    ) -> bool:
        """Change the broadcast's status when it is in one of `allowed_from`; False if not."""
        result = await self._session.execute(
            update(BroadcastRow)
            .where(
                BroadcastRow.id == broadcast_id,
                BroadcastRow.status.in_([s.value for s in allowed_from]),
            )
            .values(status=to.value)
            .returning(BroadcastRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def record(self, broadcast_id: int, staff_id: int, action: str, at: datetime) -> None:
        self._session.add(
            BroadcastActionRow(broadcast_id=broadcast_id, staff_id=staff_id, action=action, at=at)
        )
        await self._session.flush()

    async def actions(self, broadcast_id: int) -> list[BroadcastActionRow]:
        result = await self._session.execute(
            select(BroadcastActionRow)
            .where(BroadcastActionRow.broadcast_id == broadcast_id)
            .order_by(BroadcastActionRow.id)
        )
        return list(result.scalars())

    async def skip_queued(self, broadcast_id: int, reason: str, now: datetime) -> int:
        """Skip every push of the broadcast not sent yet (planned, or claimed by a sender whose
        claim lapsed); returns how many."""
        result = await self._session.execute(
            update(BroadcastOutboxRow)
            .where(
                BroadcastOutboxRow.broadcast_id == broadcast_id,
                or_(
                    BroadcastOutboxRow.status == PLANNED,
                    and_(
                        BroadcastOutboxRow.status == SENDING,
                        BroadcastOutboxRow.claimed_until < now,
                    ),
                ),
            )
            .values(status=SKIPPED, reason=reason, settled_at=now, claimed_until=None)
            .returning(BroadcastOutboxRow.id)
            .execution_options(synchronize_session=False)
        )
        return len(result.all())

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
        opted = exists().where(PushOptOutRow.customer_id == CustomerRow.id)
        blocked = exists().where(UnreachableCustomerRow.customer_id == CustomerRow.id)
        capped = exists().where(
            AllowanceRow.customer_id == CustomerRow.id,
            AllowanceRow.scope == cap_scope,
            AllowanceRow.used >= cap,
        )
        agreed = marketing_agreed() if consent_required else true()
        row = (
            await self._session.execute(
                select(
                    func.count(),
                    func.count().filter(opted),
                    func.count().filter(~opted, ~agreed),
                    func.count().filter(~opted, agreed, blocked),
                    func.count().filter(~opted, agreed, ~blocked, capped),
                ).where(CustomerRow.telegram_id.is_not(None), *audience_conditions(audience, now))
            )
        ).one()
        matching, opted_out, no_consent, unreachable, at_cap = (int(v or 0) for v in row)
        excluded = {
            PushSkip.OPTED_OUT: opted_out,
            PushSkip.NO_CONSENT: no_consent,
            PushSkip.UNREACHABLE: unreachable,
            PushSkip.FREQUENCY_CAP: at_cap,
        }
        return matching, {reason: n for reason, n in excluded.items() if n}

    async def reachable_ids(
        self,
        audience: Audience,
        now: datetime,
        cap_scope: str,
        cap: int,
        consent_required: bool = False,
    ) -> list[int]:
        """The customers of the audience a push would reach now (not opted out, not blocked,
        not at the day's cap, and agreed to marketing where consent is required)."""
        capped = exists().where(
            AllowanceRow.customer_id == CustomerRow.id,
            AllowanceRow.scope == cap_scope,
            AllowanceRow.used >= cap,
        )
        result = await self._session.execute(
            select(CustomerRow.id).where(
                *reachable(consent_required), ~capped, *audience_conditions(audience, now)
            )
        )
        return list(result.scalars())

    # -- planning -----------------------------------------------------------------------------
    async def top_customer_id(self) -> int:
        return int(await self._session.scalar(select(func.max(CustomerRow.id))) or 0)

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
        (after_id, up_to_id]: one statement, existing rows untouched; how many were added.
        Each gets the variant its bucket falls in (`domain.broadcasts.variant_of`) and, with
        `send_times` ({time zone: moment}, the moment of everyone else), its own send time."""
        send_at: ColumnElement[Any] = literal(None, BroadcastOutboxRow.send_at.type)
        if send_times is not None:
            by_zone, otherwise = send_times
            moment = BroadcastOutboxRow.send_at.type
            send_at = (
                case(
                    {zone: literal(at, moment) for zone, at in by_zone.items()},
                    value=CustomerRow.timezone,
                    else_=literal(otherwise, moment),
                )
                if by_zone
                else literal(otherwise, moment)
            )
        rows = select(
            literal(broadcast_id),
            CustomerRow.id,
            CustomerRow.telegram_id,
            _variant(broadcast_id, shares),
            literal(PLANNED),
            literal(0),
            literal(now, BroadcastOutboxRow.planned_at.type),
            send_at,
        ).where(
            CustomerRow.id > after_id,
            CustomerRow.id <= up_to_id,
            *reachable(consent_required),
            *audience_conditions(audience, now),
        )
        columns = [
            "broadcast_id",
            "customer_id",
            "chat_id",
            "variant",
            "status",
            "attempts",
            "planned_at",
            "send_at",
        ]
        return await outbox.plan(self._session, BroadcastOutboxRow, columns, rows)

    async def planned_through(self, broadcast_id: int, through: int, finished: bool) -> None:
        await self._session.execute(
            update(BroadcastRow)
            .where(BroadcastRow.id == broadcast_id)
            .values(planned_through=through, planned=finished)
            .execution_options(synchronize_session=False)
        )

    # -- sending ------------------------------------------------------------------------------
    async def claim(
        self,
        broadcast_ids: Sequence[int],
        now: datetime,
        until: datetime,
        limit: int,
        lapsed_by: datetime | None = None,
    ) -> list[BroadcastOutboxRow]:
        """Take up to `limit` pushes of the broadcasts for sending until `until`: ones whose
        sender's claim lapsed (it was killed midway) first, then planned ones. One conditional
        update each: two senders never take the same row."""
        if not broadcast_ids:
            return []
        mine = BroadcastOutboxRow.broadcast_id.in_(list(broadcast_ids))
        lapsed = and_(
            mine,
            BroadcastOutboxRow.status == SENDING,
            BroadcastOutboxRow.claimed_until < (now if lapsed_by is None else lapsed_by),
        )
        rows = await self._claim(lapsed, until, limit)
        if len(rows) < limit:
            planned = and_(
                mine,
                BroadcastOutboxRow.status == PLANNED,
                or_(BroadcastOutboxRow.send_at.is_(None), BroadcastOutboxRow.send_at <= now),
            )
            rows += await self._claim(planned, until, limit - len(rows))
        return sorted(rows, key=lambda row: row.id)

    async def _claim(
        self, condition: ColumnElement[bool], until: datetime, limit: int
    ) -> list[BroadcastOutboxRow]:
        order = (BroadcastOutboxRow.id,)
        return await outbox.claim(self._session, BroadcastOutboxRow, condition, order, until, limit)

    async def defer(self, outbox_id: int, until: datetime) -> None:
        """A claimed push back to planned, not to be sent before `until`."""
        await self._session.execute(
            update(BroadcastOutboxRow)
            .where(BroadcastOutboxRow.id == outbox_id, BroadcastOutboxRow.status == SENDING)
            .values(status=PLANNED, claimed_until=None, send_at=until)
            .execution_options(synchronize_session=False)
        )

    # -- customers' time zones ----------------------------------------------------------------
    async def time_zones(self) -> list[str]:
        """Every time zone a customer chose."""
        result = await self._session.execute(
            select(CustomerRow.timezone).where(CustomerRow.timezone.is_not(None)).distinct()
        )
        return [zone for zone in result.scalars() if zone]

    async def time_zone(self, customer_id: int) -> str | None:
        return await self._session.scalar(
            select(CustomerRow.timezone).where(CustomerRow.id == customer_id)
        )

    async def set_time_zone(self, customer_id: int, zone: str) -> None:
        await self._session.execute(
            update(CustomerRow)
            .where(CustomerRow.id == customer_id)
            .values(timezone=zone)
            .execution_options(synchronize_session=False)
        )

    async def took_cap(self, outbox_id: int, scope: str) -> None:
        await self._session.execute(
            update(BroadcastOutboxRow)
            .where(BroadcastOutboxRow.id == outbox_id)
            .values(cap_scope=scope)
            .execution_options(synchronize_session=False)
        )

    async def settle(
        self,
        outbox_id: int,
        status: str,
        at: datetime,
        *,
        reason: str | None = None,
        message_id: int | None = None,
    ) -> BroadcastOutboxRow | None:
        """sending -> sent / failed / skipped; the row, or None when it was not being sent."""
        return await outbox.settle(
            self._session,
            BroadcastOutboxRow,
            outbox_id,
            status,
            at,
            reason=reason,
            message_id=message_id,
        )

    async def release(self, ids: Iterable[int]) -> None:
        """Give claimed pushes back, unsent, to be sent later."""
        await outbox.release(self._session, BroadcastOutboxRow, ids)

    async def finish_sent(self, now: datetime) -> list[int]:
        """Broadcasts fully planned with nothing left queued become done; their ids."""
        queued = exists().where(
            BroadcastOutboxRow.broadcast_id == BroadcastRow.id,
            BroadcastOutboxRow.status.in_(QUEUED),
        )
        result = await self._session.execute(
            update(BroadcastRow)
            .where(
                BroadcastRow.status == BroadcastStatus.SCHEDULED.value,
                BroadcastRow.planned.is_(True),
                BroadcastRow.send_at <= now,
                ~queued,
            )
            .values(status=BroadcastStatus.DONE.value)
            .returning(BroadcastRow.id)
            .execution_options(synchronize_session=False)
        )
        return list(result.scalars())

    async def pressed(self, broadcast_id: int, customer_id: int, at: datetime) -> bool:
        """The first press of a button of the customer's push; False if pressed before."""
        return await self._first_time(
            BroadcastOutboxRow,
            BroadcastOutboxRow.broadcast_id == broadcast_id,
            BroadcastOutboxRow.customer_id == customer_id,
            BroadcastOutboxRow.pressed_at.is_(None),
            pressed_at=at,
        )

    async def outcomes(self, broadcast_id: int) -> list[PushOutcome]:
        """Each push sent: its variant, whether a button was pressed, when it was sent, and
        the customer's first completed recharge since then (or None)."""
        first_recharge = first_recharge_since(
            BroadcastOutboxRow.customer_id, BroadcastOutboxRow.settled_at
        )
        result = await self._session.execute(
            select(
                BroadcastOutboxRow.variant,
                BroadcastOutboxRow.pressed_at.is_not(None),
                BroadcastOutboxRow.settled_at,
                first_recharge,
            ).where(
                BroadcastOutboxRow.broadcast_id == broadcast_id,
                BroadcastOutboxRow.status.in_(DELIVERED),
            )
        )
        return [(int(v), bool(p), sent, first) for v, p, sent, first in result.all()]

    async def was_sent(self, broadcast_id: int, customer_id: int) -> bool:
        found = await self._session.scalar(
            select(BroadcastOutboxRow.id).where(
                BroadcastOutboxRow.broadcast_id == broadcast_id,
                BroadcastOutboxRow.customer_id == customer_id,
                BroadcastOutboxRow.status == SENT,
            )
        )
        return found is not None

    # -- taking a broadcast back ---------------------------------------------------------------
    async def unsend(self, broadcast_id: int) -> int:
        """Every push of the broadcast that was sent becomes one to delete; how many."""
        result = await self._session.execute(
            update(BroadcastOutboxRow)
            .where(
                BroadcastOutboxRow.broadcast_id == broadcast_id,
                BroadcastOutboxRow.status == SENT,
                BroadcastOutboxRow.message_id.is_not(None),
            )
            .values(status=UNSEND)
            .returning(BroadcastOutboxRow.id)
            .execution_options(synchronize_session=False)
        )
        return len(result.all())

    async def claim_unsend(
        self, now: datetime, until: datetime, limit: int
    ) -> list[BroadcastOutboxRow]:
        """Take up to `limit` pushes to delete (lapsed claims first), one conditional update
        each: two processes never delete the same message."""
        lapsed = and_(
            BroadcastOutboxRow.status == UNSENDING, BroadcastOutboxRow.claimed_until < now
        )
        rows = await self._claim_to_unsend(lapsed, until, limit)
        if len(rows) < limit:
            waiting = BroadcastOutboxRow.status == UNSEND
            rows += await self._claim_to_unsend(waiting, until, limit - len(rows))
        return rows

    async def _claim_to_unsend(
        self, condition: ColumnElement[bool], until: datetime, limit: int
    ) -> list[BroadcastOutboxRow]:
        order = (BroadcastOutboxRow.id,)
        return await outbox.claim(
            self._session,
            BroadcastOutboxRow,
            condition,
            order,
            until,
            limit,
            status=UNSENDING,
            attempt=False,
        )

    async def unsent(self, outbox_id: int, reason: str | None) -> None:
        """The message is gone from the chat (or Telegram refused to delete it: `reason`)."""
        await self._session.execute(
            update(BroadcastOutboxRow)
            .where(BroadcastOutboxRow.id == outbox_id, BroadcastOutboxRow.status == UNSENDING)
            .values(status=UNSENT, claimed_until=None, reason=reason[:200] if reason else None)
            .execution_options(synchronize_session=False)
        )

    async def unsend_later(self, ids: Iterable[int]) -> None:
        """Deletions claimed and not done now (network, 429): the next sweep tries again."""
        await outbox.release(
            self._session, BroadcastOutboxRow, ids, claimed=UNSENDING, back_to=UNSEND
        )

    # -- surveys ------------------------------------------------------------------------------
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
        result = await self._session.execute(
            insert_on_conflict(self._session, SurveyAnswerRow)
            .values(
                broadcast_id=broadcast_id,
                customer_id=customer_id,
                campaign_id=campaign_id,
                rating=rating,
                at=at,
            )
            .on_conflict_do_nothing()
            .returning(SurveyAnswerRow.id)
        )
        return result.first() is not None

    async def comment(self, broadcast_id: int, customer_id: int, text: str) -> bool:
        """The comment beside a rating, once."""
        return await self._first_time(
            SurveyAnswerRow,
            SurveyAnswerRow.broadcast_id == broadcast_id,
            SurveyAnswerRow.customer_id == customer_id,
            SurveyAnswerRow.comment.is_(None),
            comment=text,
        )

    async def _first_time(
        self,
        table: type[BroadcastOutboxRow] | type[SurveyAnswerRow],
        *where: ColumnElement[bool],
        **values: Any,
    ) -> bool:
        """Set `values` on the row meeting `where` (which says they are not set yet); False
        when they were set before."""
        result = await self._session.execute(
            update(table)
            .where(*where)
            .values(**values)
            .returning(table.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def survey_results(self, since: datetime) -> list[tuple[int, str, str, int, float]]:
        """(campaign id, Chinese name, English name, answers, average rating) per campaign."""
        result = await self._session.execute(
            select(
                CampaignRow.id,
                CampaignRow.name_zh,
                CampaignRow.name_en,
                func.count(),
                func.avg(SurveyAnswerRow.rating),
            )
            .join(CampaignRow, CampaignRow.id == SurveyAnswerRow.campaign_id)
            .where(SurveyAnswerRow.at >= since)
            .group_by(CampaignRow.id, CampaignRow.name_zh, CampaignRow.name_en)
            .order_by(CampaignRow.id)
        )
        return [(int(i), zh, en, int(n), float(avg)) for i, zh, en, n, avg in result.all()]

    async def progress(self, broadcast_id: int) -> list[tuple[str, str | None, int]]:
        """(status, reason, count) of the broadcast's outbox."""
        result = await self._session.execute(
            select(BroadcastOutboxRow.status, BroadcastOutboxRow.reason, func.count())
            .where(BroadcastOutboxRow.broadcast_id == broadcast_id)
            .group_by(BroadcastOutboxRow.status, BroadcastOutboxRow.reason)
        )
        return [(status, reason, int(count)) for status, reason, count in result.all()]
