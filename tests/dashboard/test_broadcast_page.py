"""The dashboard's broadcast page over real HTTP: a staff member composes a broadcast, sees its
reach, gets a preview in their own chat (through the fake Bot API), schedules it for a local
time, and pauses, resumes and cancels it, each action in the audit trail with who and when;
a post without the session's form token, a session of somebody no longer staff and bad input
all change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.aiogram import Sender, build_bot
from bot.assembly import build_app
from bot.dashboard.server import DashboardDeps, build_dashboard
from domain.audit import AuditAction
from domain.broadcasts import BroadcastStatus, PushContent
from domain.languages import Language
from domain.services.staff import StaffRole
from scheduler.broadcasts import sweep_broadcasts
from tests.conftest import make_settings
from tests.dashboard.conftest import STAFF_ID, Clock, Site
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.reminder_setup import RecordingOutbox, customer

pytestmark = pytest.mark.timeout(60)
CUSTOMERS = (5301, 5302, 5303)
# The tests' clock reads 1 December 2026, 20:00 in Beijing: the next morning is outside the
# quiet hours (22:00-08:00), the night is inside.
TOMORROW_MORNING = "2026-12-02T10:00"
TONIGHT = "2026-12-01T23:30"
TEXTS = {"text_zh": "双12充值节明天开始！", "text_en": "Double 12 starts tomorrow!"}
HIDDEN = re.compile(r'name="(csrf|reviewed)" value="([^"]*)"')


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        for telegram_id in (STAFF_ID, *CUSTOMERS):
            server.add_user(FakeUser(telegram_id, "客户"))
        yield server


@asynccontextmanager
async def served(database_url: str, api: FakeBotApi, **overrides: object) -> AsyncIterator[Site]:
    """The dashboard with the bot's delivery port sending to the fake Bot API."""
    clock = Clock()
    settings = make_settings(
        database_url,
        admin_ids=str(STAFF_ID),
        bot_token=api.token,
        telegram_api_url=api.base_url,
        dashboard_listen="127.0.0.1:8081",
        **overrides,
    )
    app = await build_app(settings, clock=clock)
    bot = build_bot(settings)
    app.outbound.attach(Sender(bot))
    deps = DashboardDeps(app.services, app.engine, app.metrics, clock=clock, outbound=app.delivery)
    client = TestClient(TestServer(build_dashboard(deps)))
    await client.start_server()
    try:
        yield Site(app, client, clock, app.metrics)
    finally:
        await client.close()
        await bot.session.close()
        await app.close()


@pytest.fixture
async def desk(database_url: str, api: FakeBotApi) -> AsyncIterator[Site]:
    async with served(database_url, api) as site:
        yield site


def hidden(html: str) -> dict[str, str]:
    """The page's form token and the mark of the reach it shows."""
    return dict(HIDDEN.findall(html))


async def post(
    site: Site, path: str, data: dict[str, str], *, csrf: str | None = None
) -> ClientResponse:
    if csrf is None:
        page = await site.client.get("/broadcasts")
        csrf = hidden(await page.text())["csrf"]
    return await site.client.post(
        path, data={**data, "csrf": csrf}, headers=site.origin, allow_redirects=False
    )


async def test_staff_compose_see_the_reach_test_schedule_and_cancel_a_broadcast(
    desk: Site, api: FakeBotApi
) -> None:
    app = desk.app
    ids = {n: await customer(app, n) for n in CUSTOMERS}
    await app.services.broadcasts.turn_pushes(ids[5303], on=False)
    await desk.sign_in()
    page = await desk.client.get("/broadcasts")
    assert page.status == 200
    html = await page.text()
    assert "群发推送" in html and "还没有推送。" in html

    form = {**TEXTS, "button": "offers", "stage": "new"}
    shown = await post(desk, "/broadcasts", {**form, "do": "reach"})
    html = await shown.text()
    assert shown.status == 200
    # Three customers and the staff member (who wrote to the bot for the link), all new; 5303
    # turned pushes off.
    assert "可触达 3 人（符合条件 4 人，排除 1 人）" in html
    assert "· 已关闭推送：1" in html
    assert "新客户（从未充值）" in html

    tested = await post(desk, "/broadcasts", {**form, "do": "test"})
    assert "预览已发给您" in await tested.text()
    previews = api.messages_to(STAFF_ID)
    assert [m["text"] for m in previews] == [TEXTS["text_zh"], TEXTS["text_en"]]
    assert previews[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "🎁 查看优惠"
    assert await app.services.broadcasts.recent() == []  # a preview is no broadcast

    reviewed = hidden(html)["reviewed"]
    scheduled = await post(
        desk,
        "/broadcasts",
        {**form, "do": "schedule", "send_at": TOMORROW_MORNING, "reviewed": reviewed},
    )
    assert scheduled.status == 303
    assert scheduled.headers["Location"] == "/broadcasts?created=1"
    listed = await (await desk.client.get("/broadcasts?created=1")).text()
    assert "推送 #1 已创建" in listed
    assert "各客户当地时间 2026-12-02 10:00" in listed
    [item] = await app.services.broadcasts.recent()
    assert (item.local_time, item.status, item.text_zh) == (
        "2026-12-02 10:00",
        BroadcastStatus.SCHEDULED,
        TEXTS["text_zh"],
    )

    paused = await post(desk, "/broadcasts/1/pause", {})
    assert "#1: 已暂停" in await paused.text()
    resumed = await post(desk, "/broadcasts/1/resume", {})
    assert "#1: 已继续发送" in await resumed.text()
    cancelled = await post(desk, "/broadcasts/1/cancel", {})
    assert cancelled.status == 200
    assert "#1: 已取消，排队中的推送不再发送" in await cancelled.text()
    again = await post(desk, "/broadcasts/1/cancel", {})
    assert again.status == 409  # nothing left to cancel
    assert (await app.services.broadcasts.progress(1)).status is BroadcastStatus.CANCELLED

    actions = await app.services.broadcasts.actions(1)
    assert [(who, what) for who, what, _ in actions] == [
        (STAFF_ID, "create"),
        (STAFF_ID, "send"),
        (STAFF_ID, "pause"),
        (STAFF_ID, "resume"),
        (STAFF_ID, "cancel"),
    ]
    audited = [
        (record.entry.action, record.entry.actor_id, record.at)
        for record in await app.services.audit.recent()
        if record.entry.subject == "broadcast:1"
    ]
    assert {action for action, _, _ in audited} == {
        AuditAction.BROADCAST_SENT,
        AuditAction.BROADCAST_PAUSED,
        AuditAction.BROADCAST_RESUMED,
        AuditAction.BROADCAST_CANCELLED,
    }
    assert all(who == STAFF_ID and at == desk.clock() for _, who, at in audited)


async def test_sending_after_changing_the_audience_shows_its_reach_first(desk: Site) -> None:
    await desk.sign_in()
    shown = await post(desk, "/broadcasts", {**TEXTS, "do": "reach"})
    reviewed = hidden(await shown.text())["reviewed"]
    changed = {**TEXTS, "stage": "old", "do": "now", "reviewed": reviewed}
    response = await post(desk, "/broadcasts", changed)
    html = await response.text()
    assert "受众有变化：请先确认下面的触达人数，再发送一次。" in html
    assert "可触达 0 人" in html
    assert await desk.app.services.broadcasts.recent() == []
    sent = await post(desk, "/broadcasts", {**changed, "reviewed": hidden(html)["reviewed"]})
    assert sent.status == 303
    assert len(await desk.app.services.broadcasts.recent()) == 1


async def test_a_broadcast_sent_now_in_quiet_hours_is_said_to_wait_for_their_end(
    desk: Site,
) -> None:
    await desk.sign_in()
    desk.clock.now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    shown = await post(desk, "/broadcasts", {**TEXTS, "do": "reach"})
    reviewed = hidden(await shown.text())["reviewed"]
    sent = await post(desk, "/broadcasts", {**TEXTS, "do": "now", "reviewed": reviewed})
    assert sent.headers["Location"] == "/broadcasts?created=1&quiet=1"
    page = await desk.client.get(sent.headers["Location"])
    assert "现在是免打扰时段（22:00-08:00），结束后开始发送" in await page.text()


async def test_a_post_without_the_right_form_token_changes_nothing(desk: Site) -> None:
    broadcasts = desk.app.services.broadcasts
    broadcast_id = await broadcasts.create(PushContent("已有推送", "A push"), STAFF_ID)
    await desk.sign_in()
    page = await desk.client.get("/broadcasts")
    token = hidden(await page.text())["csrf"]
    compose = {**TEXTS, "do": "now"}
    for data in (compose, {**compose, "csrf": "0" * 64}, {**compose, "csrf": token[:-1]}):
        response = await desk.client.post(
            "/broadcasts", data=data, headers=desk.origin, allow_redirects=False
        )
        assert response.status == 403
        assert "请求被拒绝" in await response.text()
    for action in ("pause", "cancel", "delete"):
        response = await desk.client.post(
            f"/broadcasts/{broadcast_id}/{action}",
            data={"csrf": "wrong", "confirm": "yes"},
            headers=desk.origin,
        )
        assert response.status == 403
    # The right token from another site's page: refused too.
    response = await desk.client.post(
        "/broadcasts",
        data={**compose, "csrf": token},
        headers={"Origin": "https://elsewhere.example"},
    )
    assert response.status == 403
    [item] = await broadcasts.recent()
    assert item.status is BroadcastStatus.SCHEDULED
    assert [what for _, what, _ in await broadcasts.actions(broadcast_id)] == ["create", "send"]


async def test_only_staff_open_the_page_or_post_to_it(desk: Site) -> None:
    agent = 4343
    staff = desk.app.services.staff
    await staff.grant(agent, StaffRole.AGENT)
    await desk.sign_in(agent)
    page = await desk.client.get("/broadcasts")
    token = hidden(await page.text())["csrf"]
    await staff.revoke(agent)
    for response in (
        await desk.client.get("/broadcasts"),
        await desk.client.get("/broadcasts/progress"),
        await post(desk, "/broadcasts", {**TEXTS, "do": "now"}, csrf=token),
    ):
        assert response.status == 401
    desk.client.session.cookie_jar.clear()
    assert (await desk.client.get("/broadcasts")).status == 401
    assert await desk.app.services.broadcasts.recent() == []


@pytest.mark.parametrize(
    ("data", "told"),
    [
        ({"text_zh": " ", "text_en": "Hello", "do": "now"}, "请填写中文内容。"),
        ({"text_zh": "你好", "text_en": "", "do": "reach"}, "请填写英文内容。"),
        ({**TEXTS, "carrier": "nokia", "do": "now"}, "所选的条件不存在"),
        ({**TEXTS, "took": "took", "took_campaign": "999", "do": "now"}, "所选的条件不存在"),
        ({**TEXTS, "button": "lottery", "do": "now"}, "所选的条件不存在"),
        ({**TEXTS, "recharged": "norc", "days": "0", "do": "now"}, "1 到 3650"),
        ({**TEXTS, "do": "schedule", "send_at": TONIGHT}, "免打扰时段（22:00-08:00）"),
        ({**TEXTS, "do": "schedule", "send_at": "2026-11-30T10:00"}, "已经过去"),
        ({**TEXTS, "do": "schedule", "send_at": "tomorrow"}, "请填写发送时间"),
        ({**TEXTS, "urgent": "on", "do": "now"}, "付费广播"),
    ],
)
async def test_bad_input_is_told_and_creates_nothing(
    desk: Site, data: dict[str, str], told: str
) -> None:
    await desk.sign_in()
    response = await post(desk, "/broadcasts", data)
    assert response.status == 400
    html = await response.text()
    assert told in html
    assert 'id="errors"' in html
    assert await desk.app.services.broadcasts.recent() == []


async def test_the_page_reads_in_english(desk: Site) -> None:
    await desk.sign_in()
    await desk.app.services.customers.set_language(await customer(desk.app, STAFF_ID), Language.EN)
    response = await post(desk, "/broadcasts", {**TEXTS, "do": "reach"})
    html = await response.text()
    assert "Broadcasts" in html and "Show the reach" in html
    assert "📊 Reach: 1 (matching: 1, excluded: 0)" in html
    await desk.app.services.broadcasts.create(PushContent("推送", "A push"), STAFF_ID)
    listed = await (await desk.client.get("/broadcasts")).text()
    assert "Pause" in listed and "sending" in listed


async def test_staff_delete_a_sent_broadcast_only_once_they_ticked_sure(desk: Site) -> None:
    app = desk.app
    for telegram_id in CUSTOMERS:
        await customer(app, telegram_id)
    broadcast_id = await app.services.broadcasts.create(PushContent("推送", "A push"), STAFF_ID)
    assert await sweep_broadcasts(app.services, RecordingOutbox()) == 3
    await desk.sign_in()
    listed = await (await desk.client.get("/broadcasts")).text()
    shown = f'action="/broadcasts/{broadcast_id}/delete" data-action="delete">'
    assert shown in listed  # offered (not hidden): its pushes were sent
    assert f'action="/broadcasts/{broadcast_id}/pause" data-action="pause" hidden>' in listed
    unsure = await post(desk, f"/broadcasts/{broadcast_id}/delete", {})
    assert unsure.status == 400
    assert "请先勾选“确定”" in await unsure.text()
    assert [what for _, what, _ in await app.services.broadcasts.actions(broadcast_id)] == [
        "create",
        "send",
    ]
    sure = await post(desk, f"/broadcasts/{broadcast_id}/delete", {"confirm": "yes"})
    assert "3 条消息将从客户的聊天中删除" in await sure.text()
    actions = await app.services.broadcasts.actions(broadcast_id)
    assert (STAFF_ID, "delete") in [(who, what) for who, what, _ in actions]
    assert (await post(desk, "/broadcasts/999/delete", {"confirm": "yes"})).status == 404


async def test_an_urgent_broadcast_shows_its_cost_before_it_is_sent(
    database_url: str, api: FakeBotApi
) -> None:
    async with served(
        database_url, api, broadcast_paid_allowed=True, broadcast_paid_stars="0.1"
    ) as site:
        for telegram_id in CUSTOMERS:
            await customer(site.app, telegram_id)
        await site.sign_in()
        shown = await post(site, "/broadcasts", {**TEXTS, "urgent": "on", "do": "reach"})
        html = await shown.text()
        # Three customers and the staff member: at most 4 × 0.1 Stars.
        assert "最多花费 0.4 个 Telegram 星星（4 × 0.1）" in html
        sent = await post(
            site,
            "/broadcasts",
            {**TEXTS, "urgent": "on", "do": "now", "reviewed": hidden(html)["reviewed"]},
        )
        assert sent.status == 303
        [item] = await site.app.services.broadcasts.recent()
        assert item.urgent
        listed = await (await site.client.get("/broadcasts")).text()
        assert "⚡ 紧急（付费广播）" in listed
        actions = await site.app.services.broadcasts.actions(item.broadcast_id)
        assert [what for _, what, _ in actions] == ["create", "urgent", "send"]
