"""What reminder tests share: a campaign file, customers who asked for reminders, a clock,
and an outbox notifier that records what it was given."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, literal, select, update

from bot.assembly import App
from domain.campaign_file import parse_campaign_file
from domain.customers import TelegramProfile
from domain.persistence.reminder_tables import ReminderSubscriptionRow
from domain.persistence.tables import CustomerRow
from domain.reminders import WHOLE_CAMPAIGN
from handlers.contract import Delivery, DeliveryStatus, Reply
from handlers.outbound import Settle

SHANGHAI = ZoneInfo("Asia/Shanghai")


def campaign_file(
    starts_at: datetime,
    ends_at: datetime,
    *,
    countdown: str = "[1440, 120, 15]",
    quota: int = 100,
    slots: str = "[10]",
) -> str:
    return f"""
[[campaigns]]
code = "double-11"
name_zh = "双11充值节"
name_en = "Double 11"
terms_zh = "前{quota}笔充值享双倍积分。"
terms_en = "The first {quota} recharges earn double points."
starts_at = {starts_at.isoformat()}
ends_at = {ends_at.isoformat()}
countdown_minutes = {countdown}
slots_left_reminders = {slots}

[[campaigns.offers]]
code = "first-double"
kind = "points_multiplier"
multiplier = 2
quota = {quota}
per_customer = 1
"""


def beijing(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def load_campaign(app: App, text: str) -> int:
    await app.services.campaigns.load(parse_campaign_file(text))
    return (await app.services.reminders.campaign_ids())["double-11"]


async def customer(app: App, telegram_id: int, language: str = "zh-hans") -> int:
    profile = TelegramProfile(telegram_id, f"客户{telegram_id}", None, None, language)
    turn = await app.services.customers.begin_turn(profile, telegram_id)
    return turn.customer.id


async def subscribed_customers(
    app: App, campaign_id: int, telegram_ids: range, scope: str = WHOLE_CAMPAIGN
) -> dict[int, int]:
    """Customers (telegram id -> customer id) subscribed to the campaign's reminders."""
    found = {}
    for telegram_id in telegram_ids:
        customer_id = await customer(app, telegram_id)
        assert await app.services.reminders.toggle(customer_id, telegram_id, campaign_id, scope)
        found[telegram_id] = customer_id
    return found


async def countdown_due_now(app: App, telegram_ids: range) -> None:
    """A campaign ending in an hour whose "2 hours left" reminder is due now for customers
    subscribed (before it) to its reminders."""
    now = datetime.now(UTC)
    campaign = campaign_file(now - timedelta(days=1), now + timedelta(hours=1), countdown="[120]")
    campaign_id = await load_campaign(app, campaign)
    await subscribed_customers(app, campaign_id, telegram_ids)
    async with app.engine.begin() as connection:  # they asked before "2 hours left"
        await connection.execute(
            update(ReminderSubscriptionRow).values(created_at=now - timedelta(hours=2))
        )


async def many_subscribers(
    app: App, campaign_id: int, count: int, at: datetime, first_telegram_id: int = 10_000_000
) -> None:
    """`count` customers subscribed at once, written in bulk (for big sweeps)."""
    async with app.engine.begin() as connection:
        for start in range(0, count, 5000):
            ids = range(first_telegram_id + start, first_telegram_id + min(start + 5000, count))
            await connection.execute(
                insert(CustomerRow),
                [
                    {"telegram_id": n, "language": "zh_CN", "registered_at": at, "last_seen_at": at}
                    for n in ids
                ],
            )
        await connection.execute(
            insert(ReminderSubscriptionRow).from_select(
                ["customer_id", "campaign_id", "scope", "chat_id", "timezone", "created_at"],
                select(
                    CustomerRow.id,
                    literal(campaign_id),
                    literal(WHOLE_CAMPAIGN),
                    CustomerRow.telegram_id,
                    literal("Asia/Shanghai"),
                    literal(at, ReminderSubscriptionRow.created_at.type),
                ).where(CustomerRow.telegram_id >= first_telegram_id),
            )
        )
        await asyncio.sleep(0)


@dataclass
class RecordingOutbox:
    """A settling notifier that records every message; `answers` decides per chat."""

    sent: list[tuple[int, Reply]] = field(default_factory=list)
    answers: dict[int, Delivery] = field(default_factory=dict)
    delay: float = 0.0
    # Set once more than `enough` messages went out (a test waits for it, not for a fixed time).
    enough: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, chat_id: int, reply: Reply, *, settle: Settle | None = None) -> Delivery:
        if self.delay:
            await asyncio.sleep(self.delay)
        delivery = self.answers.get(chat_id, Delivery.sent(len(self.sent) + 1))
        if delivery.status is DeliveryStatus.SENT:
            self.sent.append((chat_id, reply))
            if len(self.sent) > self.enough:
                self.reached.set()
        if settle is not None:
            await settle(delivery)
        return delivery

    def to(self, chat_id: int) -> list[str]:
        return [reply.text for chat, reply in self.sent if chat == chat_id]
