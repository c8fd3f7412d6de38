"""A campaign's control group never sees its offers or its reminders, through the conversation;
the treated customers see them as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.assembly import App, build_app
from bot.cli import demo_campaigns
from domain.holdout import in_control
from tests.conftest import make_settings
from tests.handlers.chat import Chat

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
LAUNCH = "wallet-launch"


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    settings = make_settings(sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings, clock=lambda: START + timedelta(hours=1))
    file = demo_campaigns(START)
    for spec in file.campaigns:
        spec.holdout_percent = 50 if spec.code == LAUNCH else 0
    await app.services.campaigns.load(file)
    try:
        yield app
    finally:
        await app.close()


async def _customer_id(app: App, telegram_id: int) -> int:
    async with app.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT id FROM customers WHERE telegram_id = :t"), {"t": telegram_id}
        )
        return int(found.scalar_one())


async def _one_of_each(app: App) -> tuple[Chat, Chat]:
    """A treated and a control customer of the launch campaign (customers come in order)."""
    treated: Chat | None = None
    control: Chat | None = None
    telegram_id = 3000
    while treated is None or control is None:
        telegram_id += 1
        chat = Chat.of(app.conversation, telegram_id)
        await chat.send("/start")
        held_out = in_control(LAUNCH, await _customer_id(app, telegram_id), 50)
        if held_out and control is None:
            control = chat
        elif not held_out and treated is None:
            treated = chat
    return treated, control


async def _confirmation(chat: Chat) -> str:
    await chat.send("/recharge")
    await chat.send("18612345678")
    await chat.press("100元")
    return chat.texts[0]


async def test_the_control_group_never_sees_the_campaigns_offers(shop: App) -> None:
    treated, control = await _one_of_each(shop)
    await treated.send("/offers")
    assert "数字钱包充值节" in treated.texts[0]
    await control.send("/offers")
    assert "数字钱包充值节" not in control.texts[0]
    # Other campaigns are shown to both alike.
    assert "前 100 笔充值享 2 倍积分" not in control.texts[0]
    assert "• 2 倍积分" in await _confirmation(treated)
    held_out = await _confirmation(control)
    assert "2 倍积分" not in held_out and "首充礼" not in held_out


async def test_the_control_group_gets_none_of_the_campaigns_reminders(shop: App) -> None:
    treated, control = await _one_of_each(shop)
    campaign_id = (await shop.services.reminders.campaign_ids())[LAUNCH]
    treated_id = await _customer_id(shop, treated.user.telegram_id)
    control_id = await _customer_id(shop, control.user.telegram_id)
    reminders = shop.services.reminders
    assert await reminders.toggle(treated_id, treated.chat_id, campaign_id, "*")
    assert not await reminders.toggle(control_id, control.chat_id, campaign_id, "*")
    assert await reminders.subscriptions(control_id) == []
