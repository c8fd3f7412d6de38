"""The dashboard in a real browser: headless Chromium (Debian's `chromium`, which .ci/run
installs) driven by Playwright signs in with the link the bot sent, opens every page, waits for
the charts to draw and checks that they hold the database's numbers. `make screenshots` keeps
the overview in both languages under var/screenshots/."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.dashboard.pages import PAGES
from scheduler.broadcasts import sweep_broadcasts
from tests.dashboard.conftest import STAFF_ID, Site
from tests.dashboard.data import add_customer, add_order
from tests.dashboard.test_figures import WEEK as PERIOD
from tests.dashboard.test_figures import Shop, _fill
from tests.dashboard.test_pushes import fill_pushes
from tests.handlers.chat import Chat
from tests.reminder_setup import RecordingOutbox

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = os.environ.get("DASHBOARD_SCREENSHOTS")
WEEK = "period=custom&from=2026-12-01&to=2026-12-07"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run); it is missing")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _signed_in(site: Site, browser: Browser, language: str) -> Page:
    await Chat.of(site.app.conversation, STAFF_ID, language).send("/start")
    page = await browser.new_page(viewport={"width": 1200, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    token = await site.link_token()
    await page.goto(str(site.client.make_url(f"/signin?token={token}")))
    async with page.expect_navigation():
        await page.click("#sign-in")
    assert await page.locator("[data-chart]").count() > 0, await page.content()
    assert errors == []
    return page


async def _drawn(page: Page, chart: str) -> list[float]:
    await page.wait_for_selector(f'[data-chart="{chart}"][data-drawn="true"]', timeout=15_000)
    values = await page.evaluate(
        "(key) => window.dashboardCharts[key].getOption().series[0].data", chart
    )
    return [float(v) for v in values]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
async def test_staff_sign_in_and_see_every_chart_drawn_with_the_databases_numbers(
    site: Site, browser: Browser, language: str
) -> None:
    shop: Shop = await _fill(site.app.engine)
    page = await _signed_in(site, browser, language)
    await page.goto(str(site.client.make_url(f"/?{WEEK}")))
    # 1-7 December in Beijing: 30, 100, 50, 20 and 10 yuan on the 2nd, 3rd, 4th, 5th and 7th.
    assert await _drawn(page, "sales_by_day") == [30.0, 100.0, 50.0, 20.0, 10.0]
    heading = await page.text_content("h2")
    assert heading == ("总览" if language == "zh-hans" else "Overview")
    if SCREENSHOTS:
        await page.screenshot(path=f"{SCREENSHOTS}/overview-{language}.png", full_page=True)
    await page.goto(str(site.client.make_url(f"/p/funnel?{WEEK}")))
    # B, C and D started that week, and so did the staff member, who wrote to the bot on the
    # 1st (the clock of these tests) to get the link.
    assert await _drawn(page, "funnel") == [4, 2, 2, 2, 2, 2, 1]
    await page.goto(str(site.client.make_url(f"/p/offers?{WEEK}&campaign={shop.campaign}")))
    first_three = (await shop.figures.offers(PERIOD, shop.campaign))[0]
    assert await _drawn(page, f"burn_down_{first_three.offer_id}") == [2, 1, 0]
    # The week's points (tests/dashboard/test_figures.py): earned, redeemed, lapsed, owed.
    await page.goto(str(site.client.make_url(f"/p/points?{WEEK}")))
    assert await _drawn(page, "points") == [130, 50, 20, 100]
    # Inviters, friends joined, qualified, held for review, rewards claimed.
    await page.goto(str(site.client.make_url(f"/p/referrals?{WEEK}")))
    assert await _drawn(page, "referrals") == [2, 3, 1, 1, 1]
    # The week's tickets by category: one "other", two "payment".
    await page.goto(str(site.client.make_url(f"/p/support?{WEEK}")))
    assert await _drawn(page, "categories") == [1, 2]
    # Reminders and pushes (tests/dashboard/test_pushes.py): 3 reminders sent, 2 opened, 1
    # followed by a recharge within 24 hours; the broadcast: 3, 1, 1.
    await fill_pushes(site.app.engine)
    await page.goto(str(site.client.make_url(f"/p/pushes?{WEEK}")))
    assert await _drawn(page, "pushes") == [3, 2, 1]
    pushes = await page.evaluate("window.dashboardCharts.pushes.getOption().series[1].data")
    assert [float(v) for v in pushes] == [3, 1, 1]
    for name in PAGES:
        await page.goto(str(site.client.make_url(f"/p/{name}?{WEEK}")))
        assert await page.locator("header h1").count() == 1, name
        # Every chart of every page is drawn, with as many values as the server sent it.
        sent = json.loads(await page.text_content("#chart-data") or "{}")
        for chart in await page.locator("[data-chart]").evaluate_all(
            "(charts) => charts.map((c) => c.dataset.chart)"
        ):
            values = sent[chart]["series"][0]["values"]
            assert await _drawn(page, chart) == [float(v) for v in values], (name, chart)


async def test_a_browser_without_a_session_sees_no_chart(site: Site, browser: Browser) -> None:
    page = await browser.new_page()
    response = await page.goto(str(site.client.make_url("/")))
    assert response is not None and response.status == 401
    assert await page.locator("[data-chart]").count() == 0


async def test_an_open_page_shows_a_new_recharge_without_reloading(
    site: Site, browser: Browser
) -> None:
    now = site.clock()
    customer = await add_customer(site.app.engine, 5201, now - timedelta(days=2))
    await add_order(site.app.engine, customer, 1000, now - timedelta(hours=3))
    page = await _signed_in(site, browser, "en")
    await page.goto(str(site.client.make_url("/?period=day")))
    recharges = "#table-sales tbody tr:first-child td:nth-child(2)"
    assert await page.text_content(recharges) == "1"
    assert await _drawn(page, "recharges_by_hour") == [0] * 17 + [1] + [0] * 6
    await page.evaluate("window.stillTheSamePage = true")
    await add_order(site.app.engine, customer, 2500, now - timedelta(hours=1))
    # A locator assertion, not a function evaluated in the page: the page's policy forbids eval.
    await expect(page.locator(recharges)).to_have_text("2", timeout=15_000)
    by_hour = await page.evaluate(
        "window.dashboardCharts.recharges_by_hour.getOption().series[0].data"
    )
    assert by_hour == [0] * 17 + [1, 0, 1] + [0] * 4  # 17:01 and 19:01 in Beijing
    assert await page.evaluate("window.stillTheSamePage") is True


async def test_staff_compose_a_broadcast_see_its_reach_and_watch_it_queue(
    site: Site, browser: Browser
) -> None:
    now = site.clock()
    for telegram_id in (5401, 5402):
        await add_customer(site.app.engine, telegram_id, now - timedelta(days=1))
    page = await _signed_in(site, browser, "zh-hans")
    await page.goto(str(site.client.make_url("/broadcasts")))
    await page.fill("textarea[name=text_zh]", "双12充值节明天开始！")
    await page.fill("textarea[name=text_en]", "Double 12 starts tomorrow!")
    async with page.expect_navigation():
        await page.click("button[value=reach]")
    # The two customers and the staff member, who wrote to the bot for the link.
    await expect(page.locator("#reach")).to_contain_text("可触达 3 人（符合条件 3 人，排除 0 人）")
    if SCREENSHOTS:
        await page.screenshot(path=f"{SCREENSHOTS}/broadcasts-zh-hans.png", full_page=True)
    async with page.expect_navigation():
        await page.click("button[value=now]")
    await expect(page.locator("#notice")).to_contain_text("推送 #1 已创建")
    queued = 'tr[data-broadcast="1"] [data-field="queued"]'
    assert await page.text_content(queued) == "0"
    assert await site.app.services.broadcasts.plan() == 3
    await expect(page.locator(queued)).to_have_text("3", timeout=15_000)
    row = page.locator('tr[data-broadcast="1"]')
    await expect(row.locator('form[data-action="pause"]')).to_be_visible()
    await expect(row.locator('form[data-action="delete"]')).to_be_hidden()
    assert await sweep_broadcasts(site.app.services, RecordingOutbox()) == 3
    # Sent to all three: done, and its messages may now be deleted, not paused.
    await expect(row.locator('[data-field="sent"]')).to_have_text("3", timeout=15_000)
    await expect(row.locator('[data-field="status"]')).to_have_text("已完成")
    await expect(row.locator('form[data-action="pause"]')).to_be_hidden()
    await expect(row.locator('form[data-action="delete"]')).to_be_visible()
