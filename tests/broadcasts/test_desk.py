"""Staff compose a broadcast in the bot (/broadcast), test it on themselves, send it now or at
a local time outside quiet hours, and watch, pause, resume and cancel it (/broadcasts);
customers get it and its buttons lead into the bot."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.assembly import App
from domain.languages import Language
from domain.persistence.broadcast_tables import BroadcastOutboxRow, BroadcastRow
from domain.phone import parse_phone_number
from scheduler.broadcasts import sweep_broadcasts
from tests.broadcasts.setup import STAFF_ID, customers, world_on
from tests.handlers.chat import Chat
from tests.reminder_setup import Clock, RecordingOutbox, beijing, customer


@pytest.fixture
async def world(sqlite_url: str, clock: Clock) -> AsyncIterator[App]:
    async with world_on(sqlite_url, clock) as app:
        yield app


def desk(world: App) -> Chat:
    """The staff member's chat."""
    return Chat.of(world.conversation, telegram_id=STAFF_ID)


async def write(staff: Chat, zh: str, en: str) -> None:
    """/broadcast, its Chinese and English texts, and the offers button."""
    await staff.send("/broadcast")
    assert "请发送中文内容" in staff.text
    await staff.send(zh)
    assert "英文内容" in staff.text
    await staff.send(en)
    await staff.press("查看优惠")


async def compose(staff: Chat) -> None:
    """Texts, two buttons, no campaign, existing customers with a Unicom number who did not
    recharge within 7 days."""
    await write(staff, "双11充值节今晚开始！", "Double 11 starts tonight!")
    await staff.press("立即充值")
    assert [b.text for b in staff.buttons()][:3] == [
        "✅ 🎁 查看优惠",
        "✅ 📱 立即充值",
        "▫️ 📝 参与评价",
    ]
    await staff.press("下一步")
    await staff.press("不针对具体活动")
    assert "全部可触达客户" in staff.text


async def review(staff: Chat) -> None:
    """The composed broadcast to every reachable customer, at its review."""
    await compose(staff)
    await staff.press("确认受众")


async def test_staff_compose_test_and_send_a_broadcast_that_customers_get(
    world: App, clock: Clock
) -> None:
    ids = await customers(world, range(101, 105))
    # 101 and 102 bind a Unicom number; 102 recharges today; 104 turned pushes off.
    for telegram_id in (101, 102):
        number = parse_phone_number("18612345678")
        await world.services.customers.bind_phone(ids[telegram_id], number)
        chat = Chat.of(world.conversation, telegram_id=telegram_id)
        await chat.send("/recharge")
        await chat.press("100元")
        if telegram_id == 102:
            await chat.press("模拟支付")
    await world.services.broadcasts.turn_pushes(ids[104], on=False)

    staff = desk(world)
    await compose(staff)
    # Everyone who started the bot, the staff member too; 104 turned pushes off.
    assert "可触达 4 人（符合条件 5 人，排除 1 人）" in staff.text
    assert "已关闭推送：1 人" in staff.text
    await staff.press("老客户")
    assert "可触达 1 人（符合条件 1 人，排除 0 人）" in staff.text
    await staff.press("近期未充值")
    await staff.send("abc")
    assert "1 到 3650" in staff.text
    await staff.send("7")
    assert "7 天内没有充值" in staff.text
    assert "可触达 0 人" in staff.text  # 102 recharged today
    await staff.press("全部可触达客户（清除条件）")
    await staff.press("运营商")
    await staff.press("中国联通")
    assert "绑定了中国联通号码" in staff.text
    assert "可触达 2 人（符合条件 2 人，排除 0 人）" in staff.text
    await staff.press("确认受众")
    assert "请确认推送" in staff.text

    await staff.press("先发给我看看")
    assert staff.last.notice == "预览已发给您"
    assert staff.texts[:2] == ["双11充值节今晚开始！", "Double 11 starts tonight!"]
    assert [b.text for b in staff.replies[1].buttons[0]] == ["🎁 See the offers"]
    await staff.press("立即发送")
    assert "推送 #1 已开始发送，可触达 2 人" in staff.text

    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 2
    assert [n for n, _ in outbox.sent] == [101, 102]
    reply = outbox.sent[0][1]
    customer = Chat.of(world.conversation, telegram_id=101)
    await customer.press_data(reply.buttons[0][0].data or "")
    assert "优惠" in customer.text  # the offers screen
    async with world.engine.connect() as connection:
        pressed = (
            await connection.execute(
                select(BroadcastOutboxRow.chat_id).where(BroadcastOutboxRow.pressed_at.is_not(None))
            )
        ).scalars()
        assert list(pressed) == [101]


async def test_a_broadcast_is_scheduled_for_a_local_time_outside_quiet_hours(
    world: App, clock: Clock
) -> None:
    await customers(world, range(201, 203))
    staff = desk(world)
    await review(staff)
    await staff.press("定时发送")
    assert "Asia/Shanghai" in staff.text
    await staff.send("明天晚上")
    assert "时间格式不对" in staff.text
    await staff.send("2026-11-10 09:00")
    assert "已经过去" in staff.text
    await staff.send("2026-11-10 23:30")
    assert "免打扰时段（22:00-08:00）" in staff.text
    await staff.send("2026-11-10 20:00")
    assert "推送 #1 将于各客户当地时间 2026-11-10 20:00 发送" in staff.text
    async with world.engine.connect() as connection:
        local_time = (await connection.execute(select(BroadcastRow.local_time))).scalar_one()
    assert local_time == "2026-11-10 20:00"  # each customer's own 20:00
    await staff.send("/broadcasts")
    assert "📣 #1 · 发送中 · 各客户当地时间 2026-11-10 20:00" in staff.text
    await world.services.customers.set_language(await customer(world, STAFF_ID), Language.EN)
    await staff.send("/broadcasts")
    assert "📣 #1 · sending · 2026-11-10 20:00 each customer's local time" in staff.text

    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 0
    clock.now = beijing(2026, 11, 10, 20, 0)
    assert await sweep_broadcasts(world.services, outbox) == 3  # the staff member too


async def test_staff_watch_pause_resume_and_cancel_and_each_action_is_recorded(
    world: App,
) -> None:
    await customers(world, range(301, 304))
    staff = desk(world)
    await staff.send("/broadcasts")
    assert staff.text == "还没有推送。用 /broadcast 新建一条。"
    await review(staff)
    await staff.press("立即发送")

    await staff.send("/broadcasts")
    assert "📣 #1 · 发送中" in staff.text
    assert "待发 0 · 已发 0 · 失败 0 · 跳过 0" in staff.text
    await staff.press("暂停")
    assert staff.last.notice == "已暂停"
    assert "已暂停" in staff.text
    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 0
    await staff.press("继续")
    assert "发送中" in staff.text
    assert await sweep_broadcasts(world.services, outbox) == 4  # the staff member too
    await staff.press("刷新")
    assert "已完成" in staff.text
    assert "已发 4" in staff.text
    assert [b.text for b in staff.buttons()] == ["🔄 刷新", "📊 报告", "🗑 撤回已发消息"]
    await staff.press("报告")
    assert staff.text == (
        "📊 推送 #1 的效果：\n版本甲（100%）：送达 4 · 点击按钮 0 · 24 小时内充值 0"
    )

    await review(staff)
    await staff.press("立即发送")
    await staff.send("/broadcasts")
    await staff.press_data(staff.replies[0].buttons[0][1].data or "")  # cancel #2
    assert staff.last.notice == "已取消，排队中的推送不再发送"
    assert await sweep_broadcasts(world.services, outbox) == 0
    actions = await world.services.broadcasts.actions(1)
    assert [(who, what) for who, what, _ in actions] == [
        (STAFF_ID, "create"),
        (STAFF_ID, "send"),
        (STAFF_ID, "pause"),
        (STAFF_ID, "resume"),
    ]
    assert [what for _, what, _ in await world.services.broadcasts.actions(2)][-1] == "cancel"


async def test_only_staff_may_broadcast(world: App) -> None:
    await customers(world, range(401, 402))
    customer = Chat.of(world.conversation, telegram_id=401)
    for command in ("/broadcast", "/broadcasts"):
        await customer.send(command)
        assert customer.text == "抱歉，此功能仅限客服人员使用。"
    await customer.send("你好")
    assert "请发送中文内容" not in customer.text


async def test_staff_compare_two_texts_with_a_split_and_read_the_report(world: App) -> None:
    await customers(world, range(501, 511))
    staff = desk(world)
    await write(staff, "今晚充值送双倍积分", "Double points tonight")
    await staff.press("添加对比版本")
    assert "版本乙的中文内容" in staff.text
    await staff.send("今晚充值立减五元")
    await staff.send("Five yuan off tonight")
    assert "对比版本：版本甲 50%，版本乙 50%" in staff.text
    await staff.press("设置各版本比例")
    await staff.send("80/30")
    assert "合计 100" in staff.text
    await staff.send("70/30")
    assert "对比版本：版本甲 70%，版本乙 30%" in staff.text
    await staff.press("下一步")
    await staff.press("不针对具体活动")
    await staff.press("确认受众")
    assert "版本乙（30%）：" in staff.text
    await staff.press("先发给我看看")
    assert staff.texts[:4] == [
        "今晚充值送双倍积分",
        "Double points tonight",
        "今晚充值立减五元",
        "Five yuan off tonight",
    ]
    await staff.press("立即发送")

    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 11  # the staff member too
    texts = Counter(reply.text for _, reply in outbox.sent)
    assert set(texts) == {"今晚充值送双倍积分", "今晚充值立减五元"}
    report = await world.services.broadcasts.report(1)
    assert [(r.share, r.delivered) for r in report] == [
        (70, texts["今晚充值送双倍积分"]),
        (30, texts["今晚充值立减五元"]),
    ]
