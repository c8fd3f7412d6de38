"""/delete_my_data says what the customer loses before they confirm, in their language."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App, build_app
from domain.campaign_file import parse_campaign_file
from scheduler.referrals import sweep_referrals
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.integration.test_erasure import CAMPAIGN, Outbox, recharge


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    app = await build_app(
        make_settings(
            sqlite_url,
            demo_mode=True,
            sandbox_topup_delay_seconds=0,
            bot_username="wallet_test_bot",
        )
    )
    await app.services.campaigns.load(parse_campaign_file(CAMPAIGN))
    try:
        yield app
    finally:
        await app.close()


async def _invited_pair(shop: App) -> tuple[Chat, Chat]:
    """An inviter with ¥100 in the wallet and a friend whose first recharge qualified both."""
    inviter = Chat.of(shop.conversation, telegram_id=1001)
    friend = Chat.of(shop.conversation, telegram_id=2002)
    await inviter.send("/start")
    await inviter.send("/invite")
    link = next(line for line in inviter.text.splitlines() if line.startswith("https://t.me/"))
    await friend.send(f"/start {link.split('start=')[1]}")
    await recharge(friend, "13100001111")
    await inviter.send("/wallet")
    await inviter.press("充值 ¥100.00")
    await inviter.press("模拟支付")
    await sweep_referrals(shop.services, Outbox(), -1009)
    return inviter, friend


async def _points(shop: App, chat: Chat) -> int:
    customer = (await shop.services.customers.begin_turn(chat.user, chat.chat_id)).customer
    return (await shop.services.loyalty.balance(customer.id))[0]


async def test_before_erasing_the_customer_is_told_what_they_lose(shop: App) -> None:
    inviter, friend = await _invited_pair(shop)

    await inviter.send("/delete_my_data")
    assert inviter.text.startswith("删除后，以下内容也将永久清除，无法找回：")
    assert "• 钱包余额：¥100.00" in inviter.text
    assert "• 积分：0 积分" in inviter.text
    assert "• 未领取的邀请奖励：200 积分" in inviter.text
    assert "确定要删除您的个人数据吗？" in inviter.text
    assert [b.text for b in inviter.buttons()] == ["确认删除", "取消"]

    points = await _points(shop, friend)
    assert points > 0
    await friend.send("/language")
    await friend.press("English")
    await friend.send("/delete_my_data")
    assert friend.text.startswith("Erasing also takes away for good:")
    assert "• wallet balance: ¥0.00" in friend.text
    assert f"• points: {points}" in friend.text
    assert "• unclaimed invitation rewards: a ¥5.00 red packet" in friend.text
    await friend.press("No, keep")
    assert await _points(shop, friend) == points  # nothing was erased


async def test_a_customer_with_nothing_to_lose_is_told_so(shop: App) -> None:
    chat = Chat.of(shop.conversation, telegram_id=3003)
    await chat.send("/start")
    await chat.send("/delete_my_data")
    assert "• 钱包余额：¥0.00" in chat.text and "• 积分：0 积分" in chat.text
    assert "• 未领取的邀请奖励：无" in chat.text
