"""Inviting a friend, the friend's first recharge, and both claims, as the customers see them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.assembly import App, build_app
from domain.campaign_file import parse_campaign_file
from domain.customers import TelegramProfile
from handlers.contract import Delivery, Outcome, Reply, button_event, message_event
from scheduler.referrals import sweep_referrals
from tests.conftest import make_settings
from tests.handlers.chat import Chat

STAFF_CHAT = -1009

CAMPAIGN = """
[[campaigns]]
code = "invite-fest"
name_zh = "邀请节"
name_en = "Invite festival"
terms_zh = "邀请好友"
terms_en = "Invite friends"
starts_at = 2020-01-01T00:00:00+08:00
ends_at = 2099-01-01T00:00:00+08:00

[[campaigns.offers]]
code = "double"
kind = "points_multiplier"
multiplier = 2
quota = 1

[campaigns.referral]
min_recharge_yuan = 30
inviter = { kind = "points", points = 200 }
friend = { kind = "red_packet", yuan = 5 }
claim_days = 7
"""


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[int, Reply]] = []

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        self.sent.append((chat_id, reply))
        return Delivery.sent()

    def to(self, chat_id: int) -> list[Reply]:
        return [reply for chat, reply in self.sent if chat == chat_id]


@asynccontextmanager
async def invite_fest(database_url: str, **settings: object) -> AsyncIterator[App]:
    """The bot with the invite festival loaded; demo recharges settle at once."""
    app = await build_app(
        make_settings(
            database_url,
            demo_mode=True,
            sandbox_topup_delay_seconds=0,
            bot_username="wallet_test_bot",
            **settings,
        )
    )
    try:
        await app.services.campaigns.load(parse_campaign_file(CAMPAIGN))
        yield app
    finally:
        await app.close()


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    async with invite_fest(sqlite_url) as app:
        yield app


async def _invite_link(inviter: Chat) -> str:
    await inviter.send("/invite")
    return next(line for line in inviter.text.splitlines() if line.startswith("https://t.me/"))


async def _recharge(chat: Chat, number: str, product: str) -> None:
    await chat.send(f"/bind {number}")
    await chat.send("/recharge")
    await chat.press(product)
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")


async def test_inviter_sees_a_personal_link_with_a_share_button(shop: App) -> None:
    inviter = Chat.of(shop.conversation, telegram_id=1001)
    await inviter.send("/start")
    link = await _invite_link(inviter)
    assert link.startswith("https://t.me/wallet_test_bot?start=ref_")
    payload = link.split("start=")[1]
    assert len(payload) <= 64
    assert "首次充值满 ¥30.00 后：您得 200 积分，好友得 ¥5.00 红包" in inviter.text
    assert "已加入好友：0 位，已完成首充：0 位" in inviter.text
    share = inviter.button("分享给好友")
    assert share.url is not None and share.data is None
    assert parse_qs(urlsplit(share.url).query)["url"] == [link]
    # The same link every time.
    assert await _invite_link(inviter) == link


async def test_friend_joins_recharges_and_both_claim_once(shop: App) -> None:
    inviter = Chat.of(shop.conversation, telegram_id=1001)
    friend = Chat.of(shop.conversation, telegram_id=2002)
    await inviter.send("/start")
    payload = (await _invite_link(inviter)).split("start=")[1]

    await friend.send(f"/start {payload}")
    assert friend.texts[0].startswith("小明，您好")
    assert friend.texts[1] == "您通过好友的邀请加入。首次充值满¥30.00，即可领取 ¥5.00 红包。"
    assert friend.texts[2] == "请选择您要办理的业务："

    await _recharge(friend, "13100001111", "50元")
    outbox = Outbox()
    await sweep_referrals(shop.services, outbox, STAFF_CHAT)
    [inviter_notice] = outbox.to(1001)
    [friend_notice] = outbox.to(2002)
    assert inviter_notice.text.startswith("🎉 您邀请的好友完成了首次充值！邀请奖励 200 积分")
    assert friend_notice.text.startswith("🎉 首次充值完成！新人奖励 ¥5.00 红包")
    assert outbox.to(STAFF_CHAT) == []

    claim = inviter_notice.buttons[0][0].data or ""
    await inviter.press_data(claim)
    assert inviter.last.notice == "领取成功"
    assert inviter.texts[0] == "✅ 领取成功：200 积分 已存入您的积分。"
    assert "可领取 0 · 已领取 1" in inviter.text
    await inviter.press_data(claim)  # a double tap
    assert inviter.last.notice == "这份奖励已经领取过了。"
    await inviter.send("/points")
    assert "200" in inviter.texts[0] and "邀请奖励 +200" in inviter.text

    await friend.send("/invite")
    await friend.press("领取 ¥5.00 红包")
    assert friend.texts[0] == "✅ 领取成功：¥5.00 红包 已存入您的钱包余额。"
    await friend.send("/wallet")
    assert "邀请红包 ¥5.00" in friend.text

    # Someone else's reward button does nothing for them.
    await friend.press_data(claim)
    assert friend.last.notice == "这份奖励现在不能领取。"

    await inviter.send("/invite")
    assert "已加入好友：1 位，已完成首充：1 位" in inviter.text
    await inviter.press("排行榜")
    assert inviter.texts[0] == "🏆 邀请节 邀请排行榜\n1. 小**：1 位好友"


@pytest.mark.parametrize(
    "args", ["ref_", "ref_AAAAAAAAAAAAAAAA", "ref_<script>", "hello", "ref_" + "x" * 70]
)
async def test_a_forged_start_payload_gets_the_normal_welcome(shop: App, args: str) -> None:
    friend = Chat.of(shop.conversation, telegram_id=3003)
    await friend.send(f"/start {args}")
    assert len(friend.texts) == 2
    assert friend.texts[0].startswith("小明，您好") and friend.texts[1] == "请选择您要办理的业务："
    customer = (await shop.services.customers.begin_turn(friend.user, friend.chat_id)).customer
    assert await shop.services.referrals.inviter_of(customer.id) is None


async def test_ones_own_link_or_coming_back_through_a_link_attributes_nothing(
    shop: App,
) -> None:
    inviter = Chat.of(shop.conversation, telegram_id=1001)
    await inviter.send("/start")
    payload = (await _invite_link(inviter)).split("start=")[1]
    await inviter.send(f"/start {payload}")
    assert inviter.texts[0].startswith("小明，欢迎回来") and len(inviter.texts) == 2
    await inviter.send("/invite")
    assert "已加入好友：0 位" in inviter.text


# -- staff review of a held referral ---------------------------------------------------------------
STAFF_ID = 7001


@pytest.fixture
async def desk(sqlite_url: str) -> AsyncIterator[App]:
    async with invite_fest(sqlite_url, admin_ids=str(STAFF_ID)) as app:
        yield app


async def _in_staff_chat(app: App, telegram_id: int, data: str) -> Outcome:
    """A press on a message in the staff group."""
    event = button_event(
        TelegramProfile(telegram_id, "Agent" if telegram_id == STAFF_ID else "Mallory"),
        STAFF_CHAT,
        data,
        callback_id="cb",
        message_id=55,
        chat_type="supergroup",
    )
    return await app.conversation.handle(event)


async def _held_referral(app: App, outbox: Outbox) -> tuple[Chat, Chat, Reply]:
    """The inviter's friend recharges the inviter's own number: held, staff alerted."""
    inviter = Chat.of(app.conversation, telegram_id=1001)
    friend = Chat.of(app.conversation, telegram_id=2002)
    await inviter.send("/start")
    await inviter.send("/bind 13100001111")
    payload = (await _invite_link(inviter)).split("start=")[1]
    await friend.send(f"/start {payload}")
    await _recharge(friend, "13100001111", "50元")
    await sweep_referrals(app.services, outbox, STAFF_CHAT)
    assert outbox.to(1001) == [] and outbox.to(2002) == []
    [alert] = outbox.to(STAFF_CHAT)
    return inviter, friend, alert


async def test_staff_approve_a_held_referral_once_and_both_customers_can_claim(desk: App) -> None:
    outbox = Outbox()
    inviter, friend, alert = await _held_referral(desk, outbox)
    assert "邀请奖励待审核" in alert.text and "邀请人与好友使用同一号码" in alert.text
    approve, reject = alert.buttons[0]
    assert (approve.text, reject.text) == ("✅ 批准", "🚫 拒绝")

    # A customer pressing the review buttons (forged or forwarded) changes nothing.
    await friend.press_data(approve.data or "")
    assert friend.last.notice == "抱歉，此功能仅限客服人员使用。"
    outcome = await _in_staff_chat(desk, 1001, approve.data or "")
    assert outcome.notice == "抱歉，此功能仅限客服人员使用。" and outcome.replies == []
    await sweep_referrals(desk.services, outbox, STAFF_CHAT)
    assert outbox.to(1001) == [] and outbox.to(2002) == []

    outcome = await _in_staff_chat(desk, STAFF_ID, approve.data or "")
    assert outcome.notice is not None and "已由 Agent 批准" in outcome.notice
    [edited] = outcome.replies
    assert edited.edit and edited.buttons == ()
    assert edited.text.startswith(alert.text) and "已由 Agent 批准" in edited.text
    # A double press (or the other button after) acts no more.
    outcome = await _in_staff_chat(desk, STAFF_ID, approve.data or "")
    assert outcome.notice == "推荐 #1 已处理过：✅ 已批准，奖励可以领取"
    outcome = await _in_staff_chat(desk, STAFF_ID, reject.data or "")
    assert outcome.notice == "推荐 #1 已处理过：✅ 已批准，奖励可以领取"
    assert outcome.replies[0].buttons == ()

    await sweep_referrals(desk.services, outbox, STAFF_CHAT)
    await sweep_referrals(desk.services, outbox, STAFF_CHAT)
    [inviter_notice] = outbox.to(1001)
    [friend_notice] = outbox.to(2002)
    assert inviter_notice.text.startswith("🎉 您邀请的好友完成了首次充值！")
    await inviter.press_data(inviter_notice.buttons[0][0].data or "")
    assert inviter.texts[0] == "✅ 领取成功：200 积分 已存入您的积分。"
    await friend.press_data(friend_notice.buttons[0][0].data or "")
    assert friend.texts[0] == "✅ 领取成功：¥5.00 红包 已存入您的钱包余额。"


async def test_staff_reject_a_held_referral_and_both_customers_are_told(desk: App) -> None:
    outbox = Outbox()
    inviter, _friend, alert = await _held_referral(desk, outbox)
    _, reject = alert.buttons[0]
    outcome = await _in_staff_chat(desk, STAFF_ID, reject.data or "")
    assert outcome.replies[0].edit and "已由 Agent 拒绝" in outcome.replies[0].text
    await sweep_referrals(desk.services, outbox, STAFF_CHAT)
    await sweep_referrals(desk.services, outbox, STAFF_CHAT)
    [told_inviter] = outbox.to(1001)
    [told_friend] = outbox.to(2002)
    assert told_inviter.text.startswith("经审核，本次邀请奖励（200 积分）未能发放")
    assert told_friend.text.startswith("经审核，本次邀请奖励（¥5.00 红包）未能发放")
    await inviter.send("/invite")
    assert "审核中 0 · 可领取 0 · 已领取 0" in inviter.text


async def test_referrals_held_lists_them_for_staff_only(desk: App) -> None:
    outbox = Outbox()
    _, friend, _ = await _held_referral(desk, outbox)
    await friend.send("/referrals_held")
    assert friend.texts == ["抱歉，此功能仅限客服人员使用。"]

    event = message_event(
        TelegramProfile(STAFF_ID, "Agent"), STAFF_CHAT, "/referrals_held", chat_type="supergroup"
    )
    [listing] = (await desk.conversation.handle(event)).replies
    assert listing.chat_id == STAFF_CHAT
    assert listing.text.startswith("⏳ 待审核的邀请奖励（1 条）：\n推荐 #1：邀请人 #1，好友 #2")
    approve, _ = listing.buttons[0]
    assert approve.text == "✅ 批准 #1"
    outcome = await _in_staff_chat(desk, STAFF_ID, approve.data or "")
    assert outcome.replies[0].edit and outcome.replies[0].text == "目前没有待审核的邀请奖励。"
    assert (await desk.services.referrals.held()) == []
