"""A/B texts and a picture composed on the dashboard's broadcast page, end to end over real HTTP:
the picture is uploaded once to the staff member's own chat and then sent by its Telegram file
id, as a picture composed in the bot is; each customer gets their text's caption in their
language over the fake Bot API server; the report page counts per text what was delivered,
pressed and followed by a recharge. Bad input (a file that is no picture, one too big, shares
that do not add up to 100, a fourth text, a text in one language only, a forged picture) is
told on the form and creates nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from io import BytesIO

import pytest
from aiohttp import ClientResponse, FormData
from PIL import Image

from domain.broadcasts import bucket_of, variant_of
from domain.languages import Language
from domain.services.staff import StaffRole
from handlers.contract import MAX_PICTURE_BYTES
from scheduler.broadcasts import sweep_broadcasts
from tests.dashboard.conftest import STAFF_ID, Site
from tests.dashboard.data import add_order
from tests.dashboard.test_broadcast_page import served
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict
from tests.handlers.chat import Chat
from tests.reminder_setup import customer

pytestmark = pytest.mark.timeout(60)
# Customers and their languages: enough of them that both texts of a 50/50 split have some.
CUSTOMERS = {5401: "zh-hans", 5402: "en", 5403: "zh-hans", 5404: "en", 5405: "zh-hans"}
A = {"text_zh": "双12充值节明天开始！", "text_en": "Double 12 starts tomorrow!"}
B = {"text_zh_2": "明天充值，积分翻倍！", "text_en_2": "Recharge tomorrow for double points!"}
FIELD = re.compile(r'name="(csrf|reviewed|photo|photo_mark)" value="([^"]*)"')


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        for telegram_id, language in ((STAFF_ID, "zh-hans"), *CUSTOMERS.items()):
            server.add_user(FakeUser(telegram_id, "客户", language_code=language))
        yield server


@pytest.fixture
async def desk(database_url: str, api: FakeBotApi) -> AsyncIterator[Site]:
    # The staff member's chat takes several pictures in a row (a test send shows four).
    async with served(database_url, api, delivery_chat_per_second=50) as site:
        yield site


def png(width: int = 64, height: int = 48) -> bytes:
    out = BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def fields(html: str) -> dict[str, str]:
    """The page's hidden fields: form token, reviewed reach, the picture kept and its mark."""
    return dict(FIELD.findall(html))


async def compose(
    site: Site,
    data: dict[str, str],
    picture: tuple[bytes, str, str] | None = None,
    *,
    csrf: str | None = None,
) -> ClientResponse:
    """The compose form posted as a browser posts it (multipart), with a file when given
    (content, file name, content type)."""
    if csrf is None:
        csrf = fields(await (await site.client.get("/broadcasts")).text())["csrf"]
    form = FormData()
    for name, value in {**data, "csrf": csrf}.items():
        form.add_field(name, value)
    if picture is not None:
        content, filename, content_type = picture
        form.add_field("picture", content, filename=filename, content_type=content_type)
    return await site.client.post(
        "/broadcasts", data=form, headers=site.origin, allow_redirects=False
    )


def photos_in(api: FakeBotApi, chat_id: int) -> list[tuple[JSONDict, str]]:
    """The pictures the bot sent to a chat, each with its file id."""
    return [
        (message, api.photos[(chat_id, message["message_id"])])
        for message in api.messages_to(chat_id)
        if (chat_id, message["message_id"]) in api.photos
    ]


async def test_a_picture_and_two_texts_composed_on_the_page_reach_each_customer(
    desk: Site, api: FakeBotApi
) -> None:
    app = desk.app
    ids = {n: await customer(app, n, language) for n, language in CUSTOMERS.items()}
    await desk.sign_in()
    form = {**A, **B, "split": "50/50", "button": "offers"}

    # The picture is uploaded once, to the staff member's own chat, and kept by its file id.
    shown = await compose(desk, {**form, "do": "reach"}, (png(), "双12.png", "image/png"))
    html = await shown.text()
    assert shown.status == 200, html
    assert "已配图，推送将以图片发送" in html
    [(kept, file_id)] = photos_in(api, STAFF_ID)
    assert kept["caption"] == "📷 这张图片已保存，将随您在看板上编写的推送发出。"
    assert api.uploaded_photos[(STAFF_ID, kept["message_id"])].data == png()
    hidden = fields(html)
    assert hidden["photo"] == file_id
    carried = {**form, "photo": file_id, "photo_mark": hidden["photo_mark"]}

    # The test send shows both texts in both languages, with the picture, not uploaded again.
    tested = await compose(desk, {**carried, "do": "test"})
    assert "预览已发给您" in await tested.text()
    previews = photos_in(api, STAFF_ID)[1:]
    assert [(m["caption"], photo) for m, photo in previews] == [
        (A["text_zh"], file_id),
        (A["text_en"], file_id),
        (B["text_zh_2"], file_id),
        (B["text_en_2"], file_id),
    ]
    assert len(api.uploaded_photos) == 1
    assert await app.services.broadcasts.recent() == []

    sent = await compose(desk, {**carried, "do": "now", "reviewed": hidden["reviewed"]})
    assert sent.status == 303, await sent.text()
    [item] = await app.services.broadcasts.recent()
    broadcast_id = item.broadcast_id
    # Six customers: five and the staff member (who wrote to the bot for the link).
    assert await sweep_broadcasts(app.services, app.delivery) == len(CUSTOMERS) + 1
    assert len(api.uploaded_photos) == 1  # every push sent the kept picture by its file id

    variant_texts = [(A["text_zh"], A["text_en"]), (B["text_zh_2"], B["text_en_2"])]
    variants = {n: variant_of(bucket_of(ids[n], broadcast_id), (50, 50)) for n in CUSTOMERS}
    assert set(variants.values()) == {0, 1}
    for telegram_id, language in CUSTOMERS.items():
        [(push, photo)] = photos_in(api, telegram_id)
        assert photo == file_id
        zh, en = variant_texts[variants[telegram_id]]
        assert push["caption"] == (en if language == "en" else zh)
        offers = "🎁 See the offers" if language == "en" else "🎁 查看优惠"
        assert push["reply_markup"]["inline_keyboard"][0][0]["text"] == offers

    # Of text B, one customer presses its button and recharges two hours later.
    of_b = next(n for n in CUSTOMERS if variants[n] == 1)
    [(push, _)] = photos_in(api, of_b)
    chat = Chat.of(app.conversation, telegram_id=of_b)
    await chat.press_data(push["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    await add_order(app.engine, ids[of_b], 10_000, desk.clock() + timedelta(hours=2))

    listed = await (await desk.client.get("/broadcasts")).text()
    assert f'href="/broadcasts/{broadcast_id}/report"' in listed
    report = await desk.client.get(f"/broadcasts/{broadcast_id}/report")
    assert report.status == 200
    page = await report.text()
    rows = re.findall(
        r'<tr data-variant="\d">\s*<td>(.+?)</td>\s*<td>(\d+)%</td>\s*<td class="text">.*?</td>'
        r'\s*<td data-field="delivered">(\d+)</td>\s*<td data-field="pressed">(\d+)</td>'
        r'\s*<td data-field="recharged">(\d+)</td>',
        page,
    )
    staff_variant = variant_of(bucket_of(await customer(app, STAFF_ID), broadcast_id), (50, 50))
    delivered = [
        sum(1 for v in [*variants.values(), staff_variant] if v == index) for index in (0, 1)
    ]
    assert rows == [
        ("版本甲", "50", str(delivered[0]), "0", "0"),
        ("版本乙", "50", str(delivered[1]), "1", "1"),
    ]
    assert (await desk.client.get("/broadcasts/999/report")).status == 404


@pytest.mark.parametrize(
    ("data", "picture", "told"),
    [
        ({}, (b"GIF89a not really", "sale.png", "image/png"), "所选文件不是图片"),
        ({}, (b"%PDF-1.4 a price list", "prices.pdf", "application/pdf"), "所选文件不是图片"),
        ({}, (png() + b"\0" * MAX_PICTURE_BYTES, "big.png", "image/png"), "图片太大：最多 10 MB"),
        ({}, (png(4000, 100), "banner.png", "image/png"), "长边最多是短边的 20 倍"),
        ({**B, "split": "60/30"}, None, "合计 100，且个数与版本数相同（现有 2 个版本）"),
        ({**B, "split": "50/30/20"}, None, "合计 100，且个数与版本数相同（现有 2 个版本）"),
        ({"split": "70/30"}, None, "现有 1 个版本"),
        (
            {**B, "text_zh_3": "丙", "text_en_3": "C", "text_zh_4": "丁", "text_en_4": "D"},
            None,
            "一次推送最多 3 个版本。",
        ),
        ({"text_zh_2": "只有中文"}, None, "版本乙缺少英文内容"),
        ({"text_en_3": "English only"}, None, "版本乙缺少中文内容"),
        # Within 1,000 characters, but an emoji counts twice in a caption.
        ({"text_zh": "🎉" * 600}, (png(), "a.png", "image/png"), "有一段 1200 字，最多 1024 字"),
    ],
)
async def test_bad_pictures_and_texts_are_told_and_create_nothing(
    desk: Site,
    api: FakeBotApi,
    data: dict[str, str],
    picture: tuple[bytes, str, str] | None,
    told: str,
) -> None:
    await desk.sign_in()
    response = await compose(desk, {**A, **data, "do": "now"}, picture)
    html = await response.text()
    assert response.status == 400
    assert told in html
    assert 'id="errors"' in html
    assert await desk.app.services.broadcasts.recent() == []
    if picture is not None and "1024" not in told:
        assert api.uploaded_photos == {}  # a bad file never leaves the dashboard


async def test_a_request_over_the_largest_picture_is_told_and_creates_nothing(
    desk: Site, api: FakeBotApi
) -> None:
    await desk.sign_in()
    huge = png() + b"\0" * (MAX_PICTURE_BYTES + 2 * 1024 * 1024)
    response = await compose(desk, {**A, "do": "now"}, (huge, "huge.png", "image/png"))
    assert response.status == 413
    assert "图片太大：最多 10 MB" in await response.text()
    assert await desk.app.services.broadcasts.recent() == []
    assert api.uploaded_photos == {}


async def test_only_a_picture_this_session_kept_is_sent(database_url: str, api: FakeBotApi) -> None:
    async with served(
        database_url, api, broadcast_daily_cap=2, delivery_chat_per_second=50
    ) as desk:
        await _only_a_kept_picture_is_sent(desk, api)


async def _only_a_kept_picture_is_sent(desk: Site, api: FakeBotApi) -> None:
    await desk.sign_in()
    page = await desk.client.get("/broadcasts")
    token = fields(await page.text())["csrf"]
    # A post without the form token uploads nothing.
    refused = await compose(desk, {**A, "do": "reach"}, (png(), "a.png", "image/png"), csrf="x")
    assert refused.status == 403
    assert api.uploaded_photos == {}
    shown = await compose(desk, {**A, "do": "reach"}, (png(), "a.png", "image/png"), csrf=token)
    hidden = fields(await shown.text())
    # Another file id with the mark of the kept one: no picture.
    forged = {**A, "photo": "AgAD-somebody-elses", "photo_mark": hidden["photo_mark"]}
    sent = await compose(desk, {**forged, "do": "now", "reviewed": hidden["reviewed"]})
    assert sent.status == 303
    # Taking the kept picture off: no picture either.
    dropped = {**A, "photo": hidden["photo"], "photo_mark": hidden["photo_mark"]}
    again = await compose(
        desk, {**dropped, "drop_photo": "on", "do": "now", "reviewed": hidden["reviewed"]}
    )
    assert again.status == 303
    await sweep_broadcasts(desk.app.services, desk.app.delivery)
    pushes = [m for m in api.messages_to(STAFF_ID) if m.get("text") == A["text_zh"]]
    assert len(pushes) == 2  # both broadcasts went out as text
    assert len(api.uploaded_photos) == 1


async def test_the_new_parts_of_the_form_read_in_english(desk: Site) -> None:
    await desk.sign_in()
    staff = await customer(desk.app, STAFF_ID)
    await desk.app.services.customers.set_language(staff, Language.EN)
    # As a browser posts the form with no file chosen: an empty part without a file name.
    no_file = (b"", "", "application/octet-stream")
    response = await compose(desk, {**A, **B, "split": "90/20", "do": "reach"}, no_file)
    html = await response.text()
    assert response.status == 400
    assert "Text B in Chinese" in html and "Shares of the texts" in html
    assert "Picture (optional, JPEG, PNG or WebP, at most 10 MB" in html
    assert "one for each text (2 now), like 70/30." in html
    assert "版本" not in html


async def test_a_dashboard_without_the_bot_says_it_cannot_take_a_picture(site: Site) -> None:
    await site.sign_in()
    response = await compose(site, {**A, "do": "now"}, (png(), "a.png", "image/png"))
    assert response.status == 400
    assert "此进程未连接机器人，无法上传图片" in await response.text()
    assert await site.app.services.broadcasts.recent() == []


async def test_somebody_no_longer_staff_uploads_nothing(desk: Site, api: FakeBotApi) -> None:
    agent = 4343
    api.add_user(FakeUser(agent, "客服"))
    staff = desk.app.services.staff
    await staff.grant(agent, StaffRole.AGENT)
    await desk.sign_in(agent)
    token = fields(await (await desk.client.get("/broadcasts")).text())["csrf"]
    await staff.revoke(agent)
    response = await compose(desk, {**A, "do": "now"}, (png(), "a.png", "image/png"), csrf=token)
    assert response.status == 401
    assert api.uploaded_photos == {}
    assert await desk.app.services.broadcasts.recent() == []
