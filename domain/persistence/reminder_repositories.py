"""Repositories of reminders: subscriptions, the outbox, unreachable customers, the scheduler
lease. They never commit; every change is one conditional statement or an insert that a unique
constraint makes idempotent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)

from domain.persistence import outbox
from domain.persistence.core import OnConflict, Repository, insert_on_conflict
from domain.persistence.reminder_tables import (
    ReminderOutboxRow,
    ReminderSubscriptionRow,
    SchedulerLeaseRow,
    UnreachableCustomerRow,
)
from domain.persistence.tables import CampaignRow, CustomerRow, OfferClaimRow, OfferRow
from domain.repositories.reminders import (
    CLAIMS_THAT_COUNT,
    PLANNED,
    SENDING,
    SKIPPED,
    ReminderSubscriptionView,
)

_SUBSCRIPTIONS = cast(Table, ReminderSubscriptionRow.__table__)
_LEASES = cast(Table, SchedulerLeaseRow.__table__)
# The scheduler's lease (Core: renewed by every process every few seconds).
_RENEW_LEASE = (
    update(_LEASES)
    .where(
        _LEASES.c.name == bindparam("lease"),
        or_(
            _LEASES.c.holder == bindparam("by"),
            _LEASES.c.expires_at < bindparam("lapsed_before", type_=_LEASES.c.expires_at.type),
        ),
    )
    .values(holder=bindparam("by"), expires_at=bindparam("lapses_at"))
    .returning(_LEASES.c.name)
)
_TAKE_LEASE = OnConflict(
    lambda insert: (
        insert(_LEASES)
        .values(name=bindparam("lease"), holder=bindparam("by"), expires_at=bindparam("lapses_at"))
        .on_conflict_do_nothing()
        .returning(_LEASES.c.name)
    )
)
_RELEASE_LEASE = delete(_LEASES).where(
    _LEASES.c.name == bindparam("lease"), _LEASES.c.holder == bindparam("by")
)
# A customer's subscriptions by campaign, then scope (Core: read on every offers page).
_SUBSCRIPTIONS_OF = (
    select(_SUBSCRIPTIONS)
    .where(_SUBSCRIPTIONS.c.customer_id == bindparam("customer_id"))
    .order_by(_SUBSCRIPTIONS.c.campaign_id, _SUBSCRIPTIONS.c.scope)
)


class ReminderRepository(Repository):
    # -- subscriptions ------------------------------------------------------------------------
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
        statement = (
            insert_on_conflict(self._session, ReminderSubscriptionRow)
            .values(
                customer_id=customer_id,
                campaign_id=campaign_id,
                scope=scope,
                chat_id=chat_id,
                timezone=timezone,
                created_at=at,
            )
            .on_conflict_do_nothing()
            .returning(ReminderSubscriptionRow.id)
        )
        return (await self._session.execute(statement)).first() is not None

    async def unsubscribe(self, customer_id: int, campaign_id: int, scope: str | None) -> int:
        """Remove one scope, or every scope of the campaign when `scope` is None."""
        condition = and_(
            ReminderSubscriptionRow.customer_id == customer_id,
            ReminderSubscriptionRow.campaign_id == campaign_id,
        )
        if scope is not None:
            condition = and_(condition, ReminderSubscriptionRow.scope == scope)
        result = await self._session.execute(
            delete(ReminderSubscriptionRow)
            .where(condition)
            .returning(ReminderSubscriptionRow.id)
            .execution_options(synchronize_session=False)
        )
        return len(result.all())

    async def subscriptions_of(self, customer_id: int) -> Sequence[ReminderSubscriptionView]:
        return await (await self._core()).rows(_SUBSCRIPTIONS_OF, customer_id=customer_id)

    async def timezones(self, campaign_id: int) -> list[tuple[str, int]]:
        """The time zones of a campaign's subscribers, each with the highest subscription id."""
        result = await self._session.execute(
            select(ReminderSubscriptionRow.timezone, func.max(ReminderSubscriptionRow.id))
            .where(ReminderSubscriptionRow.campaign_id == campaign_id)
            .group_by(ReminderSubscriptionRow.timezone)
        )
        return [(zone, int(top)) for zone, top in result.all()]

    async def subscribed(
        self, pairs: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[set[str], str]]:
        """The scopes each (customer, campaign) pair is subscribed to, and the time zone."""
        wanted = set(pairs)
        customers = {customer for customer, _ in wanted}
        if not customers:
            return {}
        result = await self._session.execute(
            select(
                ReminderSubscriptionRow.customer_id,
                ReminderSubscriptionRow.campaign_id,
                ReminderSubscriptionRow.scope,
                ReminderSubscriptionRow.timezone,
            ).where(ReminderSubscriptionRow.customer_id.in_(customers))
        )
        found: dict[tuple[int, int], tuple[set[str], str]] = {}
        for customer, campaign, scope, zone in result.all():
            if (customer, campaign) in wanted:
                found.setdefault((customer, campaign), (set(), zone))[0].add(scope)
        return found

    async def campaign(self, campaign_id: int) -> tuple[CampaignRow, list[OfferRow]] | None:
        row = await self._session.get(CampaignRow, campaign_id)
        if row is None:
            return None
        offers = await self._session.execute(
            select(OfferRow).where(OfferRow.campaign_id == campaign_id).order_by(OfferRow.id)
        )
        return row, list(offers.scalars())

    # -- planning -----------------------------------------------------------------------------
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
        """Plan reminder `key` for the campaign's subscribers in one time zone whose ids are in
        (after_id, up_to_id]: one statement, existing rows untouched. The number planned."""
        source = ReminderSubscriptionRow
        conditions: list[ColumnElement[bool]] = [
            source.campaign_id == campaign_id,
            source.timezone == timezone,
            source.id > after_id,
            source.id <= up_to_id,
        ]
        if scopes is not None:
            conditions.append(source.scope.in_(scopes))
        if subscribed_by is not None:
            conditions.append(source.created_at <= subscribed_by)
        rows = (
            select(
                source.campaign_id,
                source.customer_id,
                literal(key),
                source.chat_id,
                literal(due_at, ReminderOutboxRow.due_at.type),
                literal(stale_at, ReminderOutboxRow.stale_at.type),
                literal(PLANNED),
                literal(0),
                literal(now, ReminderOutboxRow.planned_at.type),
            )
            .where(*conditions)
            .distinct()
        )
        columns = [
            "campaign_id",
            "customer_id",
            "reminder_key",
            "chat_id",
            "due_at",
            "stale_at",
            "status",
            "attempts",
            "planned_at",
        ]
        return await outbox.plan(self._session, ReminderOutboxRow, columns, rows)

    # -- sending ------------------------------------------------------------------------------
    async def claim_due(
        self, now: datetime, until: datetime, limit: int, lapsed_by: datetime | None = None
    ) -> list[ReminderOutboxRow]:
        """Take up to `limit` due reminders for sending until `until`: ones whose sender's claim
        lapsed (it was killed midway) first, then planned ones that are due.

        Two conditions, one after the other, each answered in order by the (status, due_at)
        index: one query with both would sort every due row to take the first few."""
        lapsed = and_(
            ReminderOutboxRow.status == SENDING,
            ReminderOutboxRow.claimed_until < (now if lapsed_by is None else lapsed_by),
        )
        rows = await self._claim(lapsed, until, limit)
        if len(rows) < limit:
            due = and_(ReminderOutboxRow.status == PLANNED, ReminderOutboxRow.due_at <= now)
            rows += await self._claim(due, until, limit - len(rows))
        return sorted(rows, key=lambda row: (row.due_at, row.id))

    async def _claim(
        self, condition: ColumnElement[bool], until: datetime, limit: int
    ) -> list[ReminderOutboxRow]:
        order = (ReminderOutboxRow.due_at, ReminderOutboxRow.id)
        return await outbox.claim(self._session, ReminderOutboxRow, condition, order, until, limit)

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
        row = await outbox.settle(
            self._session,
            ReminderOutboxRow,
            outbox_id,
            status,
            at,
            reason=reason,
            message_id=message_id,
        )
        return row is not None

    async def pressed(self, outbox_id: int, customer_id: int, at: datetime) -> bool:
        """The first press of a button of the customer's reminder; False if pressed before
        (or not theirs)."""
        result = await self._session.execute(
            update(ReminderOutboxRow)
            .where(
                ReminderOutboxRow.id == outbox_id,
                ReminderOutboxRow.customer_id == customer_id,
                ReminderOutboxRow.pressed_at.is_(None),
            )
            .values(pressed_at=at)
            .returning(ReminderOutboxRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def skip(self, reasons: Mapping[int, str], at: datetime) -> None:
        for reason in set(reasons.values()):
            ids = [outbox_id for outbox_id, r in reasons.items() if r == reason]
            await self._session.execute(
                update(ReminderOutboxRow)
                .where(ReminderOutboxRow.id.in_(ids), ReminderOutboxRow.status == SENDING)
                .values(status=SKIPPED, reason=reason, settled_at=at, claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    async def postpone(self, outbox_id: int, due_at: datetime) -> None:
        await self._session.execute(
            update(ReminderOutboxRow)
            .where(ReminderOutboxRow.id == outbox_id, ReminderOutboxRow.status == SENDING)
            .values(status=PLANNED, due_at=due_at, claimed_until=None)
            .execution_options(synchronize_session=False)
        )

    async def release(self, ids: Iterable[int]) -> None:
        """Give claimed reminders back, unsent, to be sent later."""
        await outbox.release(self._session, ReminderOutboxRow, ids)

    async def progress(self) -> list[tuple[int, str, int]]:
        """(campaign id, status, count) over the whole outbox."""
        result = await self._session.execute(
            select(ReminderOutboxRow.campaign_id, ReminderOutboxRow.status, func.count()).group_by(
                ReminderOutboxRow.campaign_id, ReminderOutboxRow.status
            )
        )
        return [(campaign, status, int(count)) for campaign, status, count in result.all()]

    # -- who can be reached -------------------------------------------------------------------
    async def customers(self, ids: Iterable[int]) -> dict[int, CustomerRow]:
        wanted = set(ids)
        if not wanted:
            return {}
        result = await self._session.execute(select(CustomerRow).where(CustomerRow.id.in_(wanted)))
        return {row.id: row for row in result.scalars()}

    async def unreachable(self, ids: Iterable[int]) -> set[int]:
        wanted = set(ids)
        if not wanted:
            return set()
        result = await self._session.execute(
            select(UnreachableCustomerRow.customer_id).where(
                UnreachableCustomerRow.customer_id.in_(wanted)
            )
        )
        return set(result.scalars())

    async def mark_unreachable(self, customer_id: int, at: datetime) -> None:
        await self._session.execute(
            insert_on_conflict(self._session, UnreachableCustomerRow)
            .values(customer_id=customer_id, since=at)
            .on_conflict_do_nothing()
        )

    async def mark_reachable(self, customer_id: int) -> None:
        await self._session.execute(
            delete(UnreachableCustomerRow)
            .where(UnreachableCustomerRow.customer_id == customer_id)
            .execution_options(synchronize_session=False)
        )

    async def claimed_offers(
        self, customer_ids: Iterable[int], offer_ids: Iterable[int]
    ) -> set[tuple[int, int]]:
        """(customer, offer) pairs where the customer holds or was granted the offer."""
        customers, offers = set(customer_ids), set(offer_ids)
        if not customers or not offers:
            return set()
        result = await self._session.execute(
            select(OfferClaimRow.customer_id, OfferClaimRow.offer_id)
            .where(
                OfferClaimRow.customer_id.in_(customers),
                OfferClaimRow.offer_id.in_(offers),
                OfferClaimRow.status.in_(CLAIMS_THAT_COUNT),
            )
            .distinct()
        )
        return {(customer, offer) for customer, offer in result.all()}


class LeaseRepository(Repository):
    async def hold(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease when it is ours or has lapsed; False when another holds it."""
        core = await self._core()
        lease = {"lease": name, "by": holder, "lapsed_before": now, "lapses_at": until}
        if await core.row(_RENEW_LEASE, **lease) is not None:
            return True
        return await core.row(_TAKE_LEASE, **lease) is not None

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up, when it is ours: another process may take it at once."""
        await (await self._core()).run(_RELEASE_LEASE, lease=name, by=holder)
