"""Post-campaign survey: a push whose button asks a 1-5 rating of its campaign and an optional
comment; each customer rates once; the results by campaign appear beside support CSAT in
/support_stats; a customer who erases their data leaves no comment behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.assembly import App, build_app
from domain.broadcasts import PushContent, PushTarget
from domain.persistence.broadcast_tables import SurveyAnswerRow
from domain.tickets import ERASED_TEXT
from handlers.features.broadcasts import SurveyRate
from scheduler.broadcasts import sweep_broadcasts
from tests.broadcasts.setup import STAFF_ID, customers
from tests.conftest import make_settings
from tests.handlers.chat import Chat
from tests.reminder_setup import Clock, RecordingOutbox, beijing, campaign_file, load_campaign

SURVEY = PushContent(
    "双11充值节已结束，请花几秒钟告诉我们您的感受。",
    "Double 11 is over: tell us in a few seconds how you liked it.",
    (PushTarget.SURVEY,),
)


@pytest.fixture
def clock() -> Clock:
    return Clock(beijing(2026, 11, 12, 12, 0))


@pytest.fixture
async def world(sqlite_url: str, clock: Clock) -> AsyncIterator[App]:
    app = await build_app(
        make_settings(sqlite_url, demo_mode=True, admin_ids=str(STAFF_ID)), clock=clock
    )
    try:
        yield app
    finally:
        await app.close()


async def open_survey(chat: Chat, outbox: RecordingOutbox) -> None:
    reply = next(r for n, r in outbox.sent if n == chat.chat_id)
    await chat.press_data(reply.buttons[0][0].data or "")


async def rate(chat: Chat, stars: int) -> None:
    await chat.press_data(chat.buttons()[stars - 1].data or "")


async def test_customers_rate_the_campaign_once_and_staff_see_it_beside_csat(
    world: App, clock: Clock
) -> None:
    ended = clock.now - timedelta(hours=12)  # the campaign is over: the survey still goes
    campaign_id = await load_campaign(world, campaign_file(ended - timedelta(days=10), ended))
    await customers(world, range(101, 103))
    await customers(world, range(103, 104), language="en")
    await world.services.broadcasts.create(SURVEY, STAFF_ID, campaign_id=campaign_id)
    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 3

    first = Chat.of(world.conversation, telegram_id=101)
    reply = next(r for n, r in outbox.sent if n == 101)
    assert [b.text for row in reply.buttons for b in row] == ["📝 参与评价", "🔕 不再接收活动推送"]
    await open_survey(first, outbox)
    assert first.text == "📝 您对「双11充值节」活动满意吗？请打分（1 到 5 星）："
    assert [b.text for b in first.buttons()] == ["⭐" * n for n in range(1, 6)]
    await rate(first, 4)
    assert "感谢您的评分 ⭐⭐⭐⭐" in first.text
    await first.send("充值很快，希望多一些流量优惠")
    assert first.text.startswith("谢谢您的反馈")
    await open_survey(first, outbox)
    await rate(first, 1)  # a second rating changes nothing
    assert first.last.notice == "您已经评价过了，谢谢！"

    second = Chat.of(world.conversation, telegram_id=102)
    await open_survey(second, outbox)
    await rate(second, 5)
    await second.press("跳过")
    english = Chat.of(world.conversation, telegram_id=103, language="en")
    await open_survey(english, outbox)
    assert english.text.startswith("📝 How did you like “Double 11”?")
    await rate(english, 3)

    # Someone who was never sent the survey cannot rate it with forged button data.
    stranger = Chat.of(world.conversation, telegram_id=999)
    await stranger.send("/start")
    await stranger.press_data(SurveyRate(1, 1).pack())
    assert stranger.last.notice == "您已经评价过了，谢谢！"

    staff = Chat.of(world.conversation, telegram_id=STAFF_ID)
    await staff.send("/support_stats")
    assert "📝 活动满意度调查：\n• 双11充值节：平均 4.0 分（3 人评价）" in staff.text

    await first.send("/delete_my_data")
    await first.press("确认删除")
    async with world.engine.connect() as connection:
        comments = (await connection.execute(select(SurveyAnswerRow.comment))).scalars()
        assert sorted(str(c) for c in comments) == sorted([ERASED_TEXT, "None", "None"])
