"""Invite a friend over real HTTP, with each front end against the fake Bot API server: the deep
link, the friend's first recharge, both notifications, both claims."""

from __future__ import annotations

from typing import Any

import pytest

from domain.campaign_file import parse_campaign_file
from domain.customers import TelegramProfile
from domain.languages import Language
from handlers.i18n import texts
from scheduler.referrals import sweep_referrals
from tests.e2e.conftest import Runner
from tests.fakes.bot_api import FakeBotApi, FakeGroup, FakeUser, JSONDict

pytestmark = pytest.mark.timeout(30)

ZH = texts(Language.ZH_CN)
ANNA = FakeUser(id=1101, first_name="安娜", language_code="zh-hans")
FRIEND = FakeUser(id=1102, first_name="Bob", language_code="en")
STAFF_CHAT = -100777
EN = texts(Language.EN)

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
"""


def buttons(message: JSONDict) -> list[JSONDict]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [button for row in rows for button in row]


def button(message: JSONDict, label: str) -> JSONDict:
    exact = [b for b in buttons(message) if b["text"] == label]
    found = exact or [b for b in buttons(message) if label in b["text"]]
    assert len(found) == 1, f"{label!r} in {[b['text'] for b in buttons(message)]}"
    return found[0]


async def say(api: FakeBotApi, user: FakeUser, text: str, count: int = 1) -> list[JSONDict]:
    api.send_text(user, text)
    return await api.wait_for_message(user.id, count)


async def press(api: FakeBotApi, user: FakeUser, message: JSONDict, label: str) -> JSONDict:
    current = api.message(message["chat"]["id"], message["message_id"]) or message
    update_id = api.press_button(user, current, button(current, label)["callback_data"])
    return await api.wait_for_callback_answer(update_id)


async def press_to_edit(api: FakeBotApi, user: FakeUser, message: JSONDict, label: str) -> JSONDict:
    await press(api, user, message, label)
    return await api.wait_for_edit(user.id)


async def first_recharge(api: FakeBotApi, user: FakeUser, number: str) -> JSONDict:
    await say(api, user, f"/bind {number}", count=2)
    [amounts] = await say(api, user, "/recharge")  # one bound number: its call credit grid
    confirmation = await press_to_edit(api, user, amounts, "¥50")
    return await press_to_edit(api, user, confirmation, "Sandbox")


async def test_invite_a_friend_who_recharges_and_both_claim(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    settings: dict[str, Any] = {"sandbox_topup_delay_seconds": 0}
    async with runner(api, sqlite_url, **settings) as app:
        await app.services.campaigns.load(parse_campaign_file(CAMPAIGN))

        # The inviter's link names the bot as getMe told it, with a share button.
        [invite] = await say(api, ANNA, "/invite")
        link = next(
            line for line in invite["text"].splitlines() if line.startswith("https://t.me/")
        )
        assert link.startswith(f"https://t.me/{api.bot_username}?start=ref_")
        assert button(invite, ZH("invite.share"))["url"].startswith("https://t.me/share/url?")

        # The friend opens the deep link: Telegram sends /start with the payload.
        payload = link.split("start=")[1]
        welcome, deal, menu = await say(api, FRIEND, f"/start {payload}", count=3)
        assert welcome["text"] == EN("start.welcome_new", name="Bob")
        assert deal["text"] == EN(
            "invite.welcome_friend", minimum="¥30.00", reward="a ¥5.00 red packet"
        )
        assert menu["text"] == EN("menu.title")

        receipt = await first_recharge(api, FRIEND, "13100001111")
        assert receipt["text"].startswith("✅")

        # The sweep tells both, through the running bot.
        mark = api.mark()
        swept = await sweep_referrals(app.services, app.delivery, STAFF_CHAT)
        assert (swept.qualified, swept.customers_told, swept.staff_alerts) == (1, 2, 0)
        [anna_notice] = await api.wait_for_message(ANNA.id, after=mark)
        [friend_notice] = await api.wait_for_message(FRIEND.id, after=mark)
        assert "200 积分" in anna_notice["text"]
        assert "¥5.00" in friend_notice["text"] and "First recharge done" in friend_notice["text"]

        # Both claim with one tap; a second tap pays nothing more.
        mark = api.mark()
        answer = await press(api, ANNA, anna_notice, ZH("invite.claim", reward="200 积分"))
        assert answer["text"] == ZH("invite.claimed_notice")
        [claimed, _screen] = await api.wait_for_message(ANNA.id, 2, after=mark)
        assert claimed["text"] == ZH("invite.claimed.points", reward="200 积分")
        again = await press(api, ANNA, anna_notice, ZH("invite.claim", reward="200 积分"))
        assert again["text"] == ZH("invite.claim_refused.claimed")

        mark = api.mark()
        answer = await press(api, FRIEND, friend_notice, "Claim")
        assert answer["text"] == EN("invite.claimed_notice")
        [claimed, _screen] = await api.wait_for_message(FRIEND.id, 2, after=mark)
        assert claimed["text"] == EN("invite.claimed.red_packet", reward="a ¥5.00 red packet")

        anna = await app.services.customers.begin_turn(TelegramProfile(ANNA.id, "安娜"), ANNA.id)
        friend = await app.services.customers.begin_turn(
            TelegramProfile(FRIEND.id, "Bob"), FRIEND.id
        )
        assert (await app.services.loyalty.balance(anna.customer.id))[0] == 200
        assert (await app.services.wallet.balance(friend.customer.id)).fen == 500
        await api.wait_for(lambda: not api.unanswered_callback_queries(), what="all answered")


STAFF = FakeUser(id=1199, first_name="Agent")
DESK = FakeGroup(id=STAFF_CHAT, title="Staff desk")


async def test_staff_approve_a_held_referral_in_the_staff_chat(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    api.add_user(STAFF)
    api.add_group(DESK, bot_is_admin=True)
    settings: dict[str, Any] = {
        "sandbox_topup_delay_seconds": 0,
        "admin_ids": str(STAFF.id),
        "staff_chat_id": STAFF_CHAT,
    }
    async with runner(api, sqlite_url, **settings) as app:
        await app.services.campaigns.load(parse_campaign_file(CAMPAIGN))
        await say(api, ANNA, "/bind 13100001111", count=2)
        [invite] = await say(api, ANNA, "/invite")
        link = next(
            line for line in invite["text"].splitlines() if line.startswith("https://t.me/")
        )
        await say(api, FRIEND, f"/start {link.split('start=')[1]}", count=3)
        receipt = await first_recharge(api, FRIEND, "13100001111")  # the inviter's number: held

        mark = api.mark()
        swept = await sweep_referrals(app.services, app.outbound, STAFF_CHAT)
        assert (swept.qualified, swept.customers_told, swept.staff_alerts) == (1, 0, 1)
        [alert] = await api.wait_for_message(STAFF_CHAT, after=mark)
        assert [b["text"] for b in buttons(alert)] == ["✅ 批准", "🚫 拒绝"]

        # The friend pressing the alert's button (forged from their chat) changes nothing.
        approve = button(alert, "批准")["callback_data"]
        update_id = api.press_button(FRIEND, receipt, approve, check=False)
        answer = await api.wait_for_callback_answer(update_id)
        assert answer["text"] == EN("staff.only")
        assert len(await app.services.referrals.held()) == 1

        answer = await press(api, STAFF, alert, "批准")
        # The notice is in the presser's own language; the alert stays in the staff chat's.
        assert "approved by Agent" in answer["text"]
        edited = await api.wait_for_edit(STAFF_CHAT)
        assert "已由 Agent 批准" in edited["text"] and buttons(edited) == []

        mark = api.mark()
        swept = await sweep_referrals(app.services, app.outbound, STAFF_CHAT)
        assert swept.customers_told == 2
        [anna_notice] = await api.wait_for_message(ANNA.id, after=mark)
        assert "200 积分" in anna_notice["text"]
        await api.wait_for(lambda: not api.unanswered_callback_queries(), what="all answered")
