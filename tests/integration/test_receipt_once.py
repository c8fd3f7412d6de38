"""A receipt goes out once when the database is lost between sending it and recording it sent.

The order sweep claims the receipt, sends it (Telegram, here the fake Bot API server, takes it)
and then cannot mark it told: the database went away right after the send (a fault injected at
the order repository: every read and write of a receipt's claim fails while it is "down"). The
outage outlasts the claim. When the database is back, the customer must not get the receipt
again; the process that sent it writes the mark as soon as it can. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.aiogram import Sender, build_bot
from bot.assembly import App, build_app
from bot.settings import Settings
from domain.integrations.sandbox import SandboxGateway
from domain.persistence.repositories import OrderRepository
from domain.services.recharge import OUTCOME_CLAIM
from handlers.contract import Delivery, Reply
from scheduler.jobs import sweep_orders
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.handlers.chat import Chat

pytestmark = pytest.mark.timeout(60)

CUSTOMER = FakeUser(id=7301, first_name="Li", language_code="en")
RECEIPT = "✅ Recharge completed"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Database:
    """Whether the database is reachable, as the order repository's receipt calls see it."""

    down: bool = False

    def check(self) -> None:
        if self.down:
            raise OperationalError(
                "UPDATE orders", {}, ConnectionRefusedError(111, "Connect call failed")
            )


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Database:
    state = Database()
    for name in ("unnotified", "claim_outcome", "outcome_told", "release_outcome"):
        original = getattr(OrderRepository, name)

        async def failing(self: OrderRepository, *args: Any, _original: Any = original) -> Any:
            state.check()
            return await _original(self, *args)

        monkeypatch.setattr(OrderRepository, name, failing)
    return state


@dataclass
class LostAfterSending:
    """The outbound port, with the database lost the moment Telegram took the message."""

    app: App
    database: Database

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        delivery = await self.app.delivery.send(chat_id, reply)
        self.database.down = True
        return delivery


def shop_settings(database_url: str, api: FakeBotApi) -> Settings:
    """A demo shop whose sandbox carrier tops up at once and whose orders are checked again
    at once, talking to the fake Bot API."""
    return make_settings(
        database_url,
        demo_mode=True,
        sandbox_topup_delay_seconds=0,
        order_recheck_seconds=0.001,
        bot_token=api.token,
        telegram_api_url=api.base_url,
    )


@pytest.fixture
async def shop(database_url: str) -> AsyncIterator[tuple[App, FakeBotApi, Clock]]:
    clock = Clock(datetime.now(UTC))
    async with FakeBotApi() as api:
        settings = shop_settings(database_url, api)
        app = await build_app(settings, clock=clock)
        bot = build_bot(settings)
        app.outbound.attach(Sender(bot))
        try:
            yield app, api, clock
        finally:
            await app.close()
            await bot.session.close()


async def completed_while_away(app: App, api: FakeBotApi, clock: Clock) -> None:
    """The customer recharged and left before the top-up completed: the sweep tells them."""
    await recharging(app, api, clock)


async def recharging(app: App, api: FakeBotApi, clock: Clock) -> Chat:
    """The customer paid; the top-up has just completed at the carrier."""
    api.add_user(CUSTOMER)
    gateway = app.ports.gateway
    assert isinstance(gateway, SandboxGateway)
    gateway.delay = timedelta(hours=1)
    chat = Chat.of(app.conversation, telegram_id=CUSTOMER.id, language="en")
    await chat.send("/bind 18612345678")
    await chat.send("/recharge")
    await chat.press("¥20")
    await chat.press("Sandbox payment")
    assert chat.texts[0].startswith("⏳ Paid, recharging")
    gateway.delay = timedelta(0)
    clock.now += timedelta(seconds=1)  # due to be asked again
    return chat


async def told(app: App) -> bool:
    """Whether the customer's one order is recorded as told."""
    async with app.engine.connect() as connection:
        result = await connection.execute(text("SELECT outcome_notified FROM orders"))
        return bool(result.scalar_one())


def receipts(api: FakeBotApi) -> int:
    return sum(m.get("text", "").startswith(RECEIPT) for m in api.messages_to(CUSTOMER.id))


async def test_a_receipt_sent_as_the_database_went_away_is_not_sent_again(
    shop: tuple[App, FakeBotApi, Clock], database: Database
) -> None:
    app, api, clock = shop
    await completed_while_away(app, api, clock)

    # Sent, and Telegram took it; then the database is gone before it is marked told.
    with suppress(OperationalError):  # (how the sweep ends is not what the customer sees)
        await sweep_orders(app.services, LostAfterSending(app, database))
    assert receipts(api) == 1
    with pytest.raises(OperationalError):  # the next sweep: the database is still away
        await sweep_orders(app.services, app.delivery)

    # The outage outlasts the receipt's claim; then the database is back.
    clock.now += OUTCOME_CLAIM + timedelta(minutes=1)
    database.down = False
    for _ in range(100):  # the process writes the mark it kept, by itself (no sweep needed)
        if await told(app):
            break
        await asyncio.sleep(0.02)
    assert await sweep_orders(app.services, app.delivery) == 0
    assert await sweep_orders(app.services, app.delivery) == 0
    await asyncio.sleep(0.1)  # anything sent would have reached the server by now
    assert receipts(api) == 1
    assert await told(app)


async def test_a_receipt_whose_mark_is_pending_is_not_sent_again_by_the_same_process(
    shop: tuple[App, FakeBotApi, Clock], database: Database
) -> None:
    """Back before the retry wrote the mark, with the claim lapsed: the sweep writes it first."""
    app, api, clock = shop
    await completed_while_away(app, api, clock)
    app.services.outcomes.records = type(app.services.outcomes.records)(first_delay=3600)
    assert await sweep_orders(app.services, LostAfterSending(app, database)) == 1
    clock.now += OUTCOME_CLAIM + timedelta(minutes=1)
    database.down = False
    assert app.services.outcomes.records.count == 1  # not retried yet
    assert await sweep_orders(app.services, app.delivery) == 0
    assert app.services.outcomes.records.count == 0
    await asyncio.sleep(0.1)
    assert receipts(api) == 1


class GoesAway(Protocol):
    down: bool


async def receipt_shown_as_the_database_goes(
    app: App, api: FakeBotApi, clock: Clock, database: GoesAway
) -> None:
    """The customer asks for their recharging order's status and is shown the receipt;
    Telegram takes the answer, and the database goes away before the order is marked told."""
    chat = await recharging(app, api, clock)
    chat.delivers = False  # the front end runs what follows the delivery itself, below
    await chat.send("/orders")
    await chat.press("recharging")
    await chat.press("Check status")
    assert chat.texts[0].startswith(RECEIPT)
    database.down = True  # Telegram took the answer; the database is gone
    with suppress(OperationalError):
        for then in chat.last.after_delivery:
            await then()


async def test_a_receipt_shown_in_the_chat_as_the_database_went_away_is_not_sent_again(
    shop: tuple[App, FakeBotApi, Clock], database: Database
) -> None:
    """The customer asks for the order's status and is shown the receipt; the database goes
    away before it is marked told, for longer than the claim. The sweep sends nothing then."""
    app, api, clock = shop
    await receipt_shown_as_the_database_goes(app, api, clock, database)
    clock.now += OUTCOME_CLAIM + timedelta(minutes=1)
    database.down = False
    for _ in range(100):
        if await told(app):
            break
        await asyncio.sleep(0.02)
    assert await sweep_orders(app.services, app.delivery) == 0
    await asyncio.sleep(0.1)
    assert receipts(api) == 0  # shown once, in the chat; never sent on top
    assert await told(app)
