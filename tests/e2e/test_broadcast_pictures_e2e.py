"""A push with a picture and deep-link buttons, end to end over real HTTP with each front end
against the fake Bot API server: staff send the picture during /broadcast as a photo message,
test it on themselves, send it; the customer gets the picture with its caption, follows a
button's deep link to the screen it names (a tampered one is told so); staff take it back and
the picture is deleted from the chat."""

from __future__ import annotations

from typing import Any

import pytest

from domain.languages import Language
from handlers.i18n import texts
from scheduler.broadcasts import sweep_broadcasts
from tests.e2e.conftest import Runner
from tests.e2e.test_referrals_e2e import button, press, press_to_edit, say
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict

pytestmark = pytest.mark.timeout(60)
EN = texts(Language.EN)


STAFF = FakeUser(id=1301, first_name="小王", language_code="zh-hans")
BUYER = FakeUser(id=1302, first_name="Ann", language_code="en")


async def test_a_picture_push_with_deep_links_through_each_front_end(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    settings: dict[str, Any] = {"admin_ids": str(STAFF.id), "quiet_hours": "off"}
    async with runner(api, sqlite_url, **settings) as app:
        await say(api, BUYER, "/start", count=2)
        await say(api, STAFF, "/start", count=2)

        # Staff compose over Telegram: the picture comes as a photo message.
        await say(api, STAFF, "/broadcast")
        await say(api, STAFF, "双11充值节今晚开始！")
        [targets] = await say(api, STAFF, "Double 11 starts tonight!")
        targets = await press_to_edit(api, STAFF, targets, "查看优惠")
        mark = api.mark()
        file_id = api.send_photo(STAFF)
        [targets] = await api.wait_for_message(STAFF.id, after=mark)
        assert "已配图" in targets["text"]
        targets = await press_to_edit(api, STAFF, targets, "深度链接")
        about = await press_to_edit(api, STAFF, targets, "下一步")
        audience = await press_to_edit(api, STAFF, about, "不针对具体活动")
        review = await press_to_edit(api, STAFF, audience, "确认受众")
        assert "图片：有" in review["text"]

        mark = api.mark()
        await press(api, STAFF, review, "先发给我看看")
        test_zh, test_en, review = await api.wait_for_message(STAFF.id, 3, after=mark)
        assert api.photos[(STAFF.id, test_zh["message_id"])] == file_id
        assert (test_zh["caption"], test_en["caption"]) == (
            "双11充值节今晚开始！",
            "Double 11 starts tonight!",
        )
        await press_to_edit(api, STAFF, review, "立即发送")

        mark = api.mark()
        assert await sweep_broadcasts(app.services, app.delivery) == 2
        [push] = await api.wait_for_message(BUYER.id, after=mark)
        assert api.photos[(BUYER.id, push["message_id"])] == file_id
        assert push["caption"] == "Double 11 starts tonight!"
        link = button(push, "offers")["url"]
        assert link == f"https://t.me/{api.bot_username}?start=push_1_offers"

        # The customer follows the link: Telegram sends /start with its payload.
        offers = await say(api, BUYER, "/start " + link.split("start=")[1])
        shown = await say(api, BUYER, "/offers")
        assert _texts(offers) == _texts(shown)
        [refused] = await say(api, BUYER, "/start push_1_bogus")
        assert refused["text"] == EN("push.bad_link")

        # Taken back: the picture is deleted from the chat like any push.
        [listing, *_] = await say(api, STAFF, "/broadcasts")
        ask = await _press_for_message(api, STAFF, listing, "撤回已发消息")
        await press_to_edit(api, STAFF, ask, "确定撤回")
        await sweep_broadcasts(app.services, app.delivery)
        assert (BUYER.id, push["message_id"]) in api.deleted
        actions = await app.services.broadcasts.actions(1)
        assert [what for _, what, _ in actions] == ["create", "send", "delete"]


def _texts(messages: list[JSONDict]) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in messages]


async def _press_for_message(
    api: FakeBotApi, user: FakeUser, message: JSONDict, label: str
) -> JSONDict:
    mark = api.mark()
    await press(api, user, message, label)
    [found] = await api.wait_for_message(user.id, after=mark)
    return found
