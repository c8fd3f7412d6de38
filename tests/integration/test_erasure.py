"""/delete_my_data leaves no Telegram id of the customer anywhere, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.assembly import App, build_app
from domain.broadcasts import PushContent, PushTarget
from domain.campaign_file import parse_campaign_file
from domain.persistence.tables import Base
from domain.tickets import Category
from handlers.contract import Delivery, Reply
from handlers.outbound import Settle
from scheduler.broadcasts import plan_broadcasts, sweep_broadcasts
from scheduler.jobs import sweep_orders
from scheduler.referrals import sweep_referrals
from scheduler.support import StaffChat, relay_support
from tests.conftest import make_settings
from tests.handlers.chat import Chat

# Telegram ids that appear nowhere by chance.
CUSTOMER = 7_770_001_234
FRIEND = 7_770_005_678
STAFF = 4_440_009_999
STAFF_CHAT = -100_333_444

CAMPAIGN = """
[[campaigns]]
code = "privacy-fest"
name_zh = "隐私节"
name_en = "Privacy festival"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2020-01-01T00:00:00+08:00
ends_at = 2099-01-01T00:00:00+08:00
countdown_minutes = [60]

[[campaigns.offers]]
code = "double"
kind = "points_multiplier"
multiplier = 2
quota = 100

[campaigns.referral]
min_recharge_yuan = 30
inviter = { kind = "points", points = 200 }
friend = { kind = "red_packet", yuan = 5 }
claim_days = 7
"""


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[int, Reply]] = []
        self.next_id = 100

    async def send(self, chat_id: int, reply: Reply, *, settle: Settle | None = None) -> Delivery:
        self.sent.append((chat_id, reply))
        self.next_id += 1
        delivery = Delivery.sent(self.next_id)
        if settle is not None:
            await settle(delivery)
        return delivery


@pytest.fixture
async def shop(database_url: str) -> AsyncIterator[App]:
    app = await build_app(
        make_settings(
            database_url,
            demo_mode=True,
            sandbox_topup_delay_seconds=0,
            admin_ids=str(STAFF),
            bot_username="wallet_test_bot",
            quiet_hours="off",
        )
    )
    await app.services.campaigns.load(parse_campaign_file(CAMPAIGN))
    try:
        yield app
    finally:
        await app.close()


async def recharge(chat: Chat, number: str, product: str = "50元") -> None:
    await chat.send(f"/bind {number}")
    await chat.send("/recharge")
    await chat.press(product)
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")


async def places_holding(app: App, telegram_id: int) -> list[str]:
    """Every table.column of every table whose value is, or spells, the Telegram id."""
    found: list[str] = []
    async with app.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).mappings():
                for column, value in row.items():
                    if value == telegram_id or str(telegram_id) in str(value):
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))


async def test_after_erasure_no_table_holds_the_customers_telegram_id(shop: App) -> None:
    services = shop.services
    customer = Chat.of(shop.conversation, telegram_id=CUSTOMER)
    friend = Chat.of(shop.conversation, telegram_id=FRIEND)
    await customer.send("/start")
    await customer.send("/invite")
    link = next(line for line in customer.text.splitlines() if line.startswith("https://t.me/"))
    await friend.send(f"/start {link.split('start=')[1]}")
    await recharge(customer, "18612345678")
    await recharge(friend, "13100001111")
    await customer.send("/wallet")
    await customer.press("充值 ¥100.00")
    await customer.press("模拟支付")
    outbox = Outbox()
    await sweep_orders(services, outbox)
    await sweep_referrals(services, outbox, STAFF_CHAT)

    me = (await services.customers.begin_turn(customer.user, CUSTOMER)).customer
    campaign_id = (await services.reminders.campaign_ids())["privacy-fest"]
    await services.reminders.toggle(me.id, CUSTOMER, campaign_id, "*")
    await services.reminders.plan()
    push = PushContent("新活动", "New campaign", (PushTarget.OFFERS,))
    await services.broadcasts.create(push, STAFF)
    await sweep_broadcasts(services, outbox)  # one push sent to the customer
    await services.broadcasts.create(push, STAFF)
    await plan_broadcasts(services)  # and one still queued
    await services.support.suggest(me.id, "more offers please")
    ticket = await services.support.open_ticket(me.id, CUSTOMER, Category.OTHER, "where is it?")
    await services.support.customer_message(
        me.id, ticket.id, "still waiting", source_chat_id=CUSTOMER, source_message_id=41
    )
    await services.support.staff_reply(
        STAFF, ticket.id, "on its way", source_chat_id=STAFF_CHAT, source_message_id=7
    )
    await relay_support(services, outbox, StaffChat(STAFF_CHAT))
    await services.support.resolve(STAFF, ticket.id)
    await relay_support(services, outbox, StaffChat(STAFF_CHAT))
    assert any(chat == CUSTOMER for chat, _ in outbox.sent)
    assert await places_holding(shop, CUSTOMER)  # the scan sees the id before erasure

    await customer.send("/delete_my_data")
    await customer.press("确认删除")
    assert customer.texts[0] == "您的个人数据已删除。"

    assert await places_holding(shop, CUSTOMER) == []
    # The friend and the staff member are untouched.
    assert "customers.telegram_id" in await places_holding(shop, FRIEND)
    assert await places_holding(shop, STAFF)
