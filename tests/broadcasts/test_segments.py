"""Segments against hand-made customers: each segment's members are worked out here from how
the customers were made, and the broadcast's reach and outbox must hold exactly those."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from bot.assembly import App, build_app
from domain.broadcasts import Audience, PushSkip, Stage, push_cap_scope
from domain.orders import OrderStatus
from domain.persistence.broadcast_tables import BroadcastOutboxRow, PushOptOutRow
from domain.persistence.referral_tables import ReferralRow
from domain.persistence.reminder_tables import ReminderSubscriptionRow, UnreachableCustomerRow
from domain.persistence.tables import (
    AllowanceRow,
    CustomerRow,
    OfferClaimRow,
    OfferRow,
    PhoneBindingRow,
)
from domain.phone import Carrier
from domain.tiers import Tier
from scheduler.broadcasts import plan_broadcasts
from tests.broadcasts.setup import PUSH, STAFF_ID
from tests.conftest import make_settings
from tests.dashboard.data import add_order
from tests.reminder_setup import Clock, beijing, campaign_file, load_campaign

NOW = beijing(2026, 11, 10, 12, 0)


@dataclass(frozen=True)
class Person:
    telegram_id: int
    # Completed recharges: (yuan, days ago).
    recharges: tuple[tuple[int, int], ...] = ()
    carriers: tuple[Carrier, ...] = ()
    took: bool = False
    reminders: bool = False
    inviter: bool = False
    opted_out: bool = False
    blocked: bool = False
    pushed_today: bool = False
    erased: bool = False

    def total_within_year(self) -> int:
        return sum(yuan for yuan, days in self.recharges if days < 365)

    def recharged_within(self, days: int) -> bool:
        return any(ago < days for _, ago in self.recharges)


PEOPLE = (
    Person(1, ()),
    Person(2, ((100, 3),), (Carrier.UNICOM,)),
    Person(3, ((600, 40),), (Carrier.MOBILE, Carrier.TELECOM), took=True),
    Person(4, ((2500, 10), (100, 400)), (Carrier.UNICOM,), reminders=True, inviter=True),
    Person(5, ((6000, 100),), (), took=True, reminders=True),
    Person(6, ((50, 1),), (Carrier.BROADNET,), opted_out=True),
    Person(7, (), (Carrier.UNICOM,), blocked=True, inviter=True),
    Person(8, ((300, 20),), (Carrier.UNICOM,), pushed_today=True),
    Person(9, ((10, 500),), ()),  # recharged, but more than a year ago
    Person(10, ((100, 2),), (Carrier.UNICOM,), erased=True),
)
THRESHOLDS = {Tier.SILVER: 500, Tier.GOLD: 2000, Tier.DIAMOND: 5000}

SEGMENTS: dict[str, tuple[Audience, Callable[[Person], bool]]] = {
    "everyone": (Audience(), lambda p: True),
    "new": (Audience(stage=Stage.NEW), lambda p: not p.recharges),
    "existing": (Audience(stage=Stage.EXISTING), lambda p: bool(p.recharges)),
    "gold and above": (
        Audience(tier_at_least=Tier.GOLD),
        lambda p: p.total_within_year() >= THRESHOLDS[Tier.GOLD],
    ),
    "silver and above": (
        Audience(tier_at_least=Tier.SILVER),
        lambda p: p.total_within_year() >= THRESHOLDS[Tier.SILVER],
    ),
    "unicom": (Audience(carrier=Carrier.UNICOM), lambda p: Carrier.UNICOM in p.carriers),
    "recharged within 30 days": (
        Audience(recharged_within_days=30),
        lambda p: p.recharged_within(30),
    ),
    "not recharged within 30 days": (
        Audience(recharged_within_days=30, recharged=False),
        lambda p: not p.recharged_within(30),
    ),
    "took the campaign's offer": (Audience(took_offer_of=-1), lambda p: p.took),
    "did not take it": (Audience(took_offer_of=-1, took=False), lambda p: not p.took),
    "subscribed to its reminders": (Audience(reminders_of=-1), lambda p: p.reminders),
    "inviters": (Audience(inviters=True), lambda p: p.inviter),
    "existing unicom not recharged within 7 days": (
        Audience(
            stage=Stage.EXISTING, carrier=Carrier.UNICOM, recharged_within_days=7, recharged=False
        ),
        lambda p: bool(p.recharges) and Carrier.UNICOM in p.carriers and not p.recharged_within(7),
    ),
}


@dataclass
class Town:
    app: App
    campaign_id: int
    ids: dict[int, int] = field(default_factory=dict)


@pytest.fixture
async def town(database_url: str) -> AsyncIterator[Town]:
    clock = Clock(NOW)
    app = await build_app(make_settings(database_url, demo_mode=True), clock=clock)
    try:
        campaign = campaign_file(NOW - timedelta(days=5), NOW + timedelta(days=5))
        campaign_id = await load_campaign(app, campaign)
        made = Town(app, campaign_id)
        await _make(made)
        yield made
    finally:
        await app.close()


async def _make(town: Town) -> None:
    engine = town.app.engine
    async with engine.begin() as connection:
        offer_id = (await connection.execute(select(OfferRow.id))).scalar_one()
        for person in PEOPLE:
            result = await connection.execute(
                insert(CustomerRow)
                .values(
                    telegram_id=None if person.erased else person.telegram_id,
                    language="zh_CN",
                    registered_at=NOW - timedelta(days=600),
                    last_seen_at=NOW,
                )
                .returning(CustomerRow.id)
            )
            town.ids[person.telegram_id] = int(result.scalar_one())
    by_id = {person.telegram_id: town.ids[person.telegram_id] for person in PEOPLE}
    for person in PEOPLE:
        customer_id = by_id[person.telegram_id]
        orders = [
            await add_order(engine, customer_id, yuan * 100, NOW - timedelta(days=ago, minutes=2))
            for yuan, ago in person.recharges
        ]
        await add_order(engine, customer_id, 99_900, NOW, status=OrderStatus.FAILED)
        async with engine.begin() as connection:
            for index, carrier in enumerate(person.carriers):
                await connection.execute(
                    insert(PhoneBindingRow).values(
                        customer_id=customer_id,
                        digits=f"1860000{person.telegram_id:02d}{index:02d}",
                        carrier=carrier.value,
                        bound_at=NOW,
                    )
                )
            if person.took:
                await connection.execute(
                    insert(OfferClaimRow).values(
                        offer_id=offer_id,
                        order_id=orders[0],
                        customer_id=customer_id,
                        status="granted",
                        at=NOW,
                    )
                )
            if person.reminders:
                await connection.execute(
                    insert(ReminderSubscriptionRow).values(
                        customer_id=customer_id,
                        campaign_id=town.campaign_id,
                        scope="*",
                        chat_id=person.telegram_id,
                        timezone="Asia/Shanghai",
                        created_at=NOW,
                    )
                )
            if person.inviter:
                await connection.execute(
                    insert(ReferralRow).values(
                        inviter_id=customer_id,
                        friend_id=by_id[1 if person.telegram_id == 4 else 9],
                        status="joined",
                        joined_at=NOW,
                    )
                )
            if person.opted_out:
                await connection.execute(
                    insert(PushOptOutRow).values(customer_id=customer_id, since=NOW)
                )
            if person.blocked:
                await connection.execute(
                    insert(UnreachableCustomerRow).values(customer_id=customer_id, since=NOW)
                )
            if person.pushed_today:
                await connection.execute(
                    insert(AllowanceRow).values(
                        customer_id=customer_id, scope=push_cap_scope(NOW), used=1
                    )
                )


def _for_campaign(audience: Audience, campaign_id: int) -> Audience:
    fields = {
        name: campaign_id
        for name in ("took_offer_of", "reminders_of")
        if getattr(audience, name) == -1
    }
    return Audience(**{**audience.__dict__, **fields})


@pytest.mark.parametrize("segment", list(SEGMENTS))
async def test_each_segment_holds_exactly_its_customers(town: Town, segment: str) -> None:
    template, member = SEGMENTS[segment]
    audience = _for_campaign(template, town.campaign_id)
    members = [p for p in PEOPLE if member(p) and not p.erased]

    reach = await town.app.services.broadcasts.reach(audience)
    assert reach.matching == len(members)
    expected_excluded = {
        PushSkip.OPTED_OUT: sum(p.opted_out for p in members),
        PushSkip.UNREACHABLE: sum(p.blocked and not p.opted_out for p in members),
        PushSkip.FREQUENCY_CAP: sum(
            p.pushed_today and not p.blocked and not p.opted_out for p in members
        ),
    }
    assert reach.excluded == {k: v for k, v in expected_excluded.items() if v}

    broadcast_id = await town.app.services.broadcasts.create(PUSH, STAFF_ID, audience=audience)
    await plan_broadcasts(town.app.services)
    async with town.app.engine.connect() as connection:
        planned = set(
            (
                await connection.execute(
                    select(BroadcastOutboxRow.chat_id).where(
                        BroadcastOutboxRow.broadcast_id == broadcast_id
                    )
                )
            ).scalars()
        )
    # Planning leaves out whoever turned pushes off or blocked the bot; the cap is checked
    # when sending.
    assert planned == {p.telegram_id for p in members if not p.opted_out and not p.blocked}
