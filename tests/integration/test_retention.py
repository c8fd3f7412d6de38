"""The retention sweep: the personal data of customers inactive past PRIVACY_RETENTION_DAYS is
erased as /delete_my_data erases it (financial records stay, anonymised), by the scheduler
lease holder only, each erasure in the audit trail; active customers, and customers with money
in their wallet, keep everything. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.assembly import App, build_app
from domain.persistence.tables import OrderRow
from domain.tickets import Category
from scheduler.jobs import sweep_retention, under_lease
from scheduler.reminders import SchedulerLease
from tests.conftest import make_settings
from tests.fakes.clock import ManualClock
from tests.handlers.chat import Chat
from tests.integration.test_erasure import places_holding, recharge

GONE, RICH, BACK, FRESH = 7_770_001_001, 7_770_002_002, 7_770_003_003, 7_770_004_004
DAYS = 730


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2023, 1, 2, 3, 0, tzinfo=UTC))


@pytest.fixture
async def shop(database_url: str, clock: ManualClock) -> AsyncIterator[App]:
    settings = make_settings(database_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings, clock=clock)
    try:
        yield app
    finally:
        await app.close()


async def _id(shop: App, chat: Chat) -> int:
    return (await shop.services.customers.begin_turn(chat.user, chat.chat_id)).customer.id


async def test_inactive_customers_are_erased_by_the_lease_holder_only(
    shop: App, clock: ManualClock
) -> None:
    gone, rich, back, fresh = (
        Chat.of(shop.conversation, telegram_id=t) for t in (GONE, RICH, BACK, FRESH)
    )
    await gone.send("/start")
    await recharge(gone, "18612345678")
    gone_id = await _id(shop, gone)
    await shop.services.support.open_ticket(gone_id, GONE, Category.OTHER, "where is it?")
    await rich.send("/start")
    await rich.send("/bind 13100001111")
    await rich.send("/wallet")
    await rich.press("充值 ¥100.00")
    await rich.press("模拟支付")
    await back.send("/start")
    await back.send("/bind 13900002222")

    clock.advance(days=DAYS + 10)
    await back.send("/start")  # seen again: active
    await fresh.send("/start")
    await fresh.send("/bind 13700003333")

    worker_1 = under_lease(SchedulerLease(shop.services, 60, holder="worker-1"), sweep_retention)
    worker_2 = under_lease(SchedulerLease(shop.services, 60, holder="worker-2"), sweep_retention)
    assert await worker_1(shop.services, DAYS) == 1
    assert await worker_2(shop.services, DAYS) is None  # not the lease holder: nothing done

    assert await places_holding(shop, GONE) == []
    for chat in (rich, back, fresh):
        assert await places_holding(shop, chat.chat_id)
        customer = await _id(shop, chat)
        assert await shop.services.customers.phones(customer)
    async with shop.engine.connect() as connection:
        [order] = (
            await connection.execute(select(OrderRow).where(OrderRow.customer_id == gone_id))
        ).all()
    assert order.phone_digits == "186****5678" and order.amount_fen == 5000
    [record] = [
        r for r in await shop.services.audit.recent(10) if r.entry.subject == f"customer:{gone_id}"
    ]
    assert record.entry.action.value == "data_retention_erased"
    assert record.entry.detail == "last seen 2023-01-02"

    # The customer who comes back later starts anew; a second sweep finds nobody.
    await gone.send("/start")
    assert await _id(shop, gone) != gone_id
    assert await worker_1(shop.services, DAYS) == 0


async def test_a_turn_records_the_customer_seen_at_most_once_a_day(
    shop: App, clock: ManualClock
) -> None:
    chat = Chat.of(shop.conversation, telegram_id=FRESH)
    await chat.send("/start")
    clock.advance(days=DAYS - 1)
    await chat.send("/help")
    clock.advance(days=2)
    assert await shop.services.privacy.erase_inactive(timedelta(days=DAYS)) == 0
    assert await places_holding(shop, FRESH)


def test_a_retention_shorter_than_a_month_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings("sqlite+aiosqlite://", privacy_retention_days=7)
    assert "privacy_retention_days" in str(refused.value)
    assert "at least 30 days" in str(refused.value)
    never = make_settings("sqlite+aiosqlite://", privacy_retention_days=0)
    assert never.privacy_retention_days == 0
