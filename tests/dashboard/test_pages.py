"""Every dashboard page after sign-in, for all campaigns and for one, and each table's CSV and
XLSX export (amounts in yuan with two decimals, formulas neutralised)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from domain.campaign_file import parse_campaign_file
from domain.figures import Period
from domain.holdout import in_control
from domain.persistence.tables import OfferRow
from tests.dashboard.conftest import CUSTOMER_ID, Site
from tests.dashboard.data import add_campaign, add_customer, add_order, put
from tests.dashboard.test_figures import Shop, _fill
from tests.handlers.chat import Chat

WEEK = {"period": "custom", "from": "2026-12-01", "to": "2026-12-07"}


@pytest.fixture
async def shop(site: Site) -> Shop:
    filled = await _fill(site.app.engine)
    await site.sign_in()
    return filled


@pytest.mark.parametrize("page", ["funnel", "offers", "points", "referrals", "support"])
async def test_each_page_shows_its_tables_and_charts(site: Site, shop: Shop, page: str) -> None:
    response = await site.client.get(f"/p/{page}", params=WEEK)
    assert response.status == 200
    html = await response.text()
    assert "<table" in html and "data-chart=" in html


async def test_a_page_that_does_not_exist_is_not_found(site: Site, shop: Shop) -> None:
    assert (await site.client.get("/p/nothing")).status == 404


async def test_the_overview_of_one_campaign_in_the_chosen_week(site: Site, shop: Shop) -> None:
    # Beijing dates 1-7 December are 30 Nov 16:00 - 7 Dec 16:00 UTC: B's 10 yuan on 7 Dec at
    # 08:00 UTC is inside, as in the UTC week of the figures tests.
    html = await (await site.client.get("/", params=WEEK)).text()
    assert "<td>210.00</td>" in html and "<td>70.00</td>" in html
    one = {**WEEK, "campaign": str(shop.campaign)}
    html = await (await site.client.get("/", params=one)).text()
    assert "<td>150.00</td>" in html and "<td>50.00</td>" in html


async def test_tables_export_as_csv_with_amounts_in_yuan(site: Site, shop: Shop) -> None:
    response = await site.client.get("/export/overview/sales.csv", params=WEEK)
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    text = (await response.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["指标", "本时段", "前一同长时段"]
    assert ["充值金额（元）", "210.00", "100.00"] in rows


async def test_csv_cells_that_would_be_formulas_are_neutralised(site: Site, shop: Shop) -> None:
    await put(
        site.app.engine,
        OfferRow,
        campaign_id=shop.campaign,
        code="=HYPERLINK(1)",
        kind="-cmd",
        params={},
    )
    text = (await (await site.client.get("/export/offers/offers.csv", params=WEEK)).read()).decode(
        "utf-8-sig"
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert ["'=HYPERLINK(1)", "'-cmd"] == rows[-1][:2]
    workbook = await (await site.client.get("/export/offers/offers.xlsx", params=WEEK)).read()
    sheet = load_workbook(io.BytesIO(workbook)).active
    assert sheet is not None
    last = [cell.value for cell in sheet[sheet.max_row]]
    assert last[0] == "=HYPERLINK(1)" and sheet.cell(sheet.max_row, 1).data_type == "s"


async def test_tables_export_as_xlsx_with_two_decimal_amounts(site: Site, shop: Shop) -> None:
    response = await site.client.get("/export/overview/sales.xlsx", params=WEEK)
    assert response.status == 200
    sheet = load_workbook(io.BytesIO(await response.read())).active
    assert sheet is not None
    amount = next(row for row in sheet.iter_rows() if row[0].value == "充值金额（元）")
    assert float(amount[1].value) == 210.0 and amount[1].number_format == "0.00"


async def test_exports_need_a_session(site: Site) -> None:
    assert (await site.client.get("/export/overview/sales.csv")).status == 401


async def test_the_hold_out_page_compares_treated_and_control(site: Site) -> None:
    now = site.clock()
    campaign = await add_campaign(
        site.app.engine, "held", now - timedelta(days=3), now + timedelta(days=3), 50
    )
    groups = {True: [0, 0], False: [0, 0]}  # control?: [customers, recharged]
    for n in range(1, 81):
        customer = await add_customer(site.app.engine, 9000 + n, now - timedelta(days=2))
        recharged = n % 3 == 0
        if recharged:
            await add_order(site.app.engine, customer, 1000, now - timedelta(days=1))
        group = groups[in_control("held", customer, 50)]
        group[0] += 1
        group[1] += int(recharged)
    await site.sign_in()
    html = await (
        await site.client.get(
            "/p/holdout", params={"campaign": str(campaign), "period": "campaign"}
        )
    ).text()
    (treated, treated_paid), (control, control_paid) = groups[False], groups[True]
    assert treated + control == 80 and control > 0 and treated > 0
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]
    rows = [row for row in cells if row]  # the header row has no <td>
    assert rows[0][:3] == ["实验组", str(treated), str(treated_paid)]
    assert rows[1][:3] == ["对照组", str(control), str(control_paid)]
    rate = (treated_paid / treated - control_paid / control) * 100
    assert f"{rate:+.2f}%" in html
    # Each group is about 40 customers, about 13 of whom recharged: enough to say something.
    assert "too small" not in html and "太少" not in html


async def test_the_hold_out_page_asks_for_a_campaign_with_a_control_group(
    site: Site, shop: Shop
) -> None:
    html = await (await site.client.get("/p/holdout")).text()
    assert "设了对照组的活动" in html
    one = await (
        await site.client.get("/p/holdout", params={"campaign": str(shop.campaign)})
    ).text()
    assert "holdout_percent" in one


OPEN_CAMPAIGN = """
[[campaigns]]
code = "seen"
name_zh = "看得见"
name_en = "Seen"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-25T00:00:00+08:00
ends_at = 2026-12-25T00:00:00+08:00

[[campaigns.offers]]
code = "seen-first"
kind = "first_recharge_bonus"
bonus_yuan = 5
"""


async def test_a_customer_who_opens_the_offers_is_in_the_funnels_saw_offers_step(
    site: Site,
) -> None:
    await site.app.services.campaigns.load(parse_campaign_file(OPEN_CAMPAIGN))
    chat = Chat.of(site.app.conversation, CUSTOMER_ID, "zh-hans")
    await chat.send("/start")
    before = await site.app.services.figures.funnel(
        Period(site.clock() - timedelta(hours=1), site.clock() + timedelta(hours=1))
    )
    assert [s.customers for s in before.steps[:3]] == [1, 0, 0]
    for _ in range(3):  # seen three times: one customer, once
        outcome = await chat.send("/offers")
        assert "看得见" in outcome.replies[-1].text
    campaign = next(c for c in await site.app.services.figures.campaigns() if c.code == "seen")
    period = Period(site.clock() - timedelta(hours=1), site.clock() + timedelta(hours=1))
    for chosen in (None, campaign.id):
        funnel = await site.app.services.figures.funnel(period, chosen)
        assert [(s.key, s.customers) for s in funnel.steps[:4]] == [
            ("started", 1),
            ("bound", 0),
            ("saw_offers", 1),
            ("ordered", 0),
        ]
    await site.sign_in()
    html = await (await site.client.get("/p/funnel", params={"period": "day"})).text()
    assert "看过优惠" in html
