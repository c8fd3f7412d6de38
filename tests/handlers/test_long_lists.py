"""With 200 live campaigns and 200 rewards, every screen that lists them fits Telegram's limits
(4,096 characters a message, 100 buttons a keyboard, 8 a row), pages through them in both
languages, and a customer can still recharge."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.assembly import App, build_app
from domain.campaign_file import parse_campaign_file
from domain.campaigns import Campaign, Offer, OfferKind
from domain.languages import Language
from domain.money import Money
from domain.persistence.tables import CampaignRow, CustomerRow
from domain.referrals import RewardKind, RewardStatus, Side
from domain.reminders import WHOLE_CAMPAIGN, ReminderKind
from domain.services.referrals import InviteSummary
from domain.services.referrals import Reward as ReferralReward
from domain.services.reminders import DueReminder, SlotsLeft
from handlers.contract import (
    MAX_BUTTON_DATA_BYTES,
    MAX_KEYBOARD_BUTTONS,
    MAX_MESSAGE_CHARS,
    MAX_ROW_BUTTONS,
    Outcome,
    Reply,
    text_length,
)
from handlers.features.referrals import invite_screen
from handlers.features.reminders import reminder_reply
from handlers.i18n import texts
from scheduler.reminders import plan_reminders
from tests.conftest import make_settings
from tests.handlers.chat import Chat

STAFF = 4242
CAMPAIGNS = 200
LONG_ZH = "数字钱包充值狂欢节超值优惠限时抢购活动" * 6  # 114 characters
LONG_EN = ("Digital wallet recharge carnival, limited time " * 3)[:120]


def _campaign(n: int) -> str:
    return f"""
[[campaigns]]
code = "carnival-{n:03d}"
name_zh = "{LONG_ZH}{n:03d}"
name_en = "{LONG_EN}{n:03d}"
terms_zh = "条款{n}"
terms_en = "Terms {n}"
starts_at = 2026-01-01T00:00:00+08:00
ends_at = 2099-01-01T00:00:00+08:00
countdown_minutes = [1440]

[[campaigns.offers]]
code = "double-{n:03d}"
kind = "points_multiplier"
multiplier = 2
quota = 100000

[[campaigns.offers]]
code = "packet-{n:03d}"
kind = "threshold_red_packet"
every_yuan = 100
returns_yuan = 0.01
quota = 100000
"""


def _rewards(count: int) -> str:
    return "".join(
        f"""
[[rewards]]
code = "gift-{n:03d}"
kind = "coupon"
name_zh = "{LONG_ZH}{n:03d}"
name_en = "{LONG_EN}{n:03d}"
cost_points = 1000
stock = 10
value_yuan = 1
valid_days = 30
"""
        for n in range(count)
    )


async def _shop(database_url: str) -> App:
    settings = make_settings(
        database_url, demo_mode=True, sandbox_topup_delay_seconds=0, admin_ids=str(STAFF)
    )
    app = await build_app(settings)
    for first in range(0, CAMPAIGNS, 100):  # a file holds at most 100 campaigns
        text = "".join(_campaign(n) for n in range(first, first + 100))
        await app.services.campaigns.load(parse_campaign_file(text))
    await app.services.campaigns.load(parse_campaign_file(_rewards(200)))
    return app


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    app = await _shop(sqlite_url)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def shop_on_each_database(database_url: str) -> AsyncIterator[App]:
    """The same shop on SQLite, and on PostgreSQL when configured."""
    app = await _shop(database_url)
    try:
        yield app
    finally:
        await app.close()


def _fits(outcome: Outcome) -> None:
    """What Telegram would accept, and no apology for a failure on our side."""
    assert outcome.replies
    for reply in outcome.replies:
        assert text_length(reply.text) <= MAX_MESSAGE_CHARS
        assert "出了点问题" not in reply.text and "went wrong" not in reply.text, reply.text
        assert sum(len(row) for row in reply.buttons) <= MAX_KEYBOARD_BUTTONS
        for row in reply.buttons:
            assert len(row) <= MAX_ROW_BUTTONS
            for button in row:
                assert len((button.data or "").encode()) <= MAX_BUTTON_DATA_BYTES


async def _all_pages(chat: Chat, first: str, next_label: str) -> list[str]:
    """Every page of a list, from the command `first`, following "next" to the end."""
    _fits(await chat.send(first))
    pages = [chat.texts[0]]
    while any(next_label in b.text for b in chat.buttons()):
        _fits(await chat.press(next_label))
        pages.append(chat.texts[0])
        assert len(pages) <= CAMPAIGNS
    return pages


@pytest.mark.parametrize(
    ("language", "next_label", "page_label"), [("zh-hans", "下一页", "第"), ("en", "Next", "Page")]
)
async def test_every_live_campaign_is_on_a_page_of_offers_that_fits(
    shop: App, language: str, next_label: str, page_label: str
) -> None:
    chat = Chat.of(shop.conversation, language=language)
    pages = await _all_pages(chat, "/offers", next_label)
    assert len(pages) > 1
    name = LONG_EN if language == "en" else LONG_ZH
    seen = [f"{n:03d}" for n in range(CAMPAIGNS) if any(f"{name}{n:03d}" in p for p in pages)]
    assert len(seen) == CAMPAIGNS
    assert sum(p.count(name) for p in pages) == CAMPAIGNS  # each campaign on one page only
    assert f"{page_label} 2" in pages[1] or "第 2/" in pages[1]


async def test_a_reminder_switch_or_the_terms_keep_the_customer_on_their_page(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    _fits(await chat.send("/offers"))
    _fits(await chat.press("下一页"))
    _fits(await chat.press("下一页"))
    third = chat.texts[0]
    assert "第 3/" in third
    switch = next(b for b in chat.buttons() if "提醒" in b.text)
    _fits(await chat.press_data(switch.data or ""))
    assert "第 3/" in chat.texts[0]
    terms = next(b for b in chat.buttons() if "活动规则" in b.text)
    _fits(await chat.press_data(terms.data or ""))
    _fits(await chat.press("返回"))
    assert "第 3/" in chat.texts[0]
    _fits(await chat.press("上一页"))
    assert "第 2/" in chat.texts[0]


async def test_a_customer_can_recharge_with_every_campaign_applying(
    shop_on_each_database: App,
) -> None:
    chat = Chat.of(shop_on_each_database.conversation)
    _fits(await chat.send("/recharge"))
    _fits(await chat.send("18612345678"))
    _fits(await chat.press("100元"))
    confirmation = chat.texts[0]
    assert "本单享受的优惠：" in confirmation
    assert "另有 391 项优惠同时适用" in confirmation  # 400 offers apply, 9 are listed
    _fits(await chat.press("模拟支付"))
    assert chat.texts[0].startswith("✅ 充值成功")
    assert "另有 391 项优惠同时适用" in chat.texts[0]


async def test_rewards_reminders_and_delivery_figures_page_through(shop: App) -> None:
    chat = Chat.of(shop.conversation, language="en")
    _fits(await chat.send("/points"))
    _fits(await chat.press("Redeem"))
    rewards = [b.text for b in chat.buttons() if LONG_EN in b.text]
    while any("Next" in b.text for b in chat.buttons()):
        _fits(await chat.press("Next"))
        rewards += [b.text for b in chat.buttons() if LONG_EN in b.text]
    assert len(set(rewards)) == 200

    async with shop.engine.connect() as connection:
        customer_id = await connection.scalar(
            select(CustomerRow.id).where(CustomerRow.telegram_id == chat.user.telegram_id)
        )
        campaign_ids = (await connection.scalars(select(CampaignRow.id))).all()
    assert customer_id is not None
    for campaign_id in campaign_ids:
        await shop.services.reminders.toggle(customer_id, chat.chat_id, campaign_id, WHOLE_CAMPAIGN)
    pages = await _all_pages(chat, "/reminders", "Next")
    assert sum(p.count(LONG_EN) for p in pages) == CAMPAIGNS
    assert all("Page" in p for p in pages)

    await plan_reminders(shop.services)
    staff = Chat.of(shop.conversation, telegram_id=STAFF, language="en")
    pages = await _all_pages(staff, "/deliveries", "Next")
    assert sum(p.count(LONG_EN) for p in pages) == CAMPAIGNS
    stranger = await chat.press_data(staff.button("Previous").data or "")
    assert stranger.notice is not None and not stranger.replies  # staff only


def _reply_fits(reply: Reply) -> None:
    _fits(Outcome(replies=[reply]))


def test_a_countdown_reminder_of_a_campaign_with_many_offers_fits() -> None:
    offers = tuple(
        Offer(
            code=f"step-{n}",
            kind=OfferKind.DENOMINATION_BONUS,
            quota=1000,
            steps=tuple((Money(100 * k), Money(k)) for k in range(1, 21)),
        )
        for n in range(60)
    )
    now = datetime(2026, 11, 5, tzinfo=UTC)
    campaign = Campaign(
        "carnival", LONG_ZH, LONG_EN, "条款", "Terms", now, now + timedelta(days=1), offers=offers
    )
    due = DueReminder(
        1,
        1,
        1,
        Language.ZH_CN,
        1,
        campaign,
        ReminderKind.COUNTDOWN,
        timedelta(hours=2),
        tuple(SlotsLeft(offer, n, 10) for n, offer in enumerate(offers)),
    )
    for language in Language:
        reply = reminder_reply(texts(language), due)
        _reply_fits(reply)
    assert "……另有 55 项" in reminder_reply(texts(Language.ZH_CN), due).text  # 5 of 60 shown


def test_the_invite_screen_shows_a_keyboard_of_claim_buttons_at_most() -> None:
    claimable = [
        ReferralReward(
            n,
            1,
            n,
            Side.INVITER,
            RewardKind.POINTS,
            200,
            Money(0),
            None,
            RewardStatus.CLAIMABLE,
            datetime(2099, 1, 1, tzinfo=UTC),
        )
        for n in range(1, 301)
    ]
    summary = InviteSummary("a" * 16, 300, 300, Counter(), claimable, None)
    for language in Language:
        text, rows = invite_screen(texts(language), summary, "wallet_bot")
        _reply_fits(Reply(text, rows))
        assert any("200" in b.text for row in rows for b in row)


async def test_a_campaign_of_twenty_long_offers_fits_the_offers_screen(sqlite_url: str) -> None:
    steps = ", ".join(f"[{99_970 + k}.99, {99_950 + k}.99]" for k in range(1, 21))
    offers = "".join(
        f"""
[[campaigns.offers]]
code = "steps-{n}"
kind = "denomination_bonus"
steps = [{steps}]
quota = 1000
"""
        for n in range(18)  # and the two of `_campaign`: 20, as many as a campaign holds
    )
    app = await build_app(make_settings(sqlite_url))
    try:
        await app.services.campaigns.load(parse_campaign_file(_campaign(0) + offers))
        for language in ("zh-hans", "en"):
            chat = Chat.of(app.conversation, language=language)
            _fits(await chat.send("/offers"))
            assert "¥99,971.99" in chat.texts[0] or "¥99971.99" in chat.texts[0]
            _fits(await chat.press_data(chat.buttons()[1].data or ""))  # a "remind me" switch
    finally:
        await app.close()
