"""A push with a picture and deep-link buttons: staff add the picture by sending it during
/broadcast (a text too long for a caption is refused), customers get it as a picture with its
caption, and a button's deep link (/start push_<id>_<target>) opens the same screen as the typed
button data; a tampered link is told so."""

from __future__ import annotations

from bot.assembly import App
from domain.broadcasts import PushContent, PushTarget, parse_deep_link
from domain.languages import Language
from handlers.features.broadcasts import PushOpen
from handlers.i18n import texts
from scheduler.broadcasts import sweep_broadcasts
from tests.broadcasts.setup import STAFF_ID, customers
from tests.broadcasts.test_desk import desk
from tests.handlers.chat import Chat
from tests.reminder_setup import RecordingOutbox

ZH = texts(Language.ZH_CN)
# 600 party poppers: 600 characters, but 1200 as Telegram counts a caption (UTF-16).
LONG_EMOJI = "🎉" * 600


def test_a_deep_link_payload_is_exactly_a_broadcast_and_a_target() -> None:
    assert parse_deep_link("push_12_offers") == (12, PushTarget.OFFERS)
    assert parse_deep_link("push_0_survey") == (0, PushTarget.SURVEY)
    for bad in (
        "push_12_bogus",
        "push_x_offers",
        "push_012_offers",
        "push_-1_offers",
        "push_12",
        "push__offers",
        "push_١٢_offers",
        "push_1234567890123_offers",
        "ref_12_offers",
    ):
        assert parse_deep_link(bad) is None, bad


async def test_staff_add_a_picture_and_a_text_too_long_for_its_caption_is_refused(
    world: App,
) -> None:
    await customers(world, range(301, 303))
    staff = desk(world)
    await staff.send("/broadcast")
    await staff.send(LONG_EMOJI)
    await staff.send("A short English text")
    assert "现在直接发送一张图片" in staff.text

    # Text A in Chinese is 1200 long as a caption: no picture, and the draft is as it was.
    await staff.send_photo("pic-1")
    assert staff.texts[0] == ZH("bc.photo_refused", name="版本甲", length=1200, most=1024)
    await staff.press("下一步")
    await staff.press("不针对具体活动")
    await staff.press("确认受众")
    assert "图片：无" in staff.text

    # A text short enough takes the picture; a longer variant typed after it is refused.
    await staff.send("/broadcast")
    await staff.send("双11充值节今晚开始！")
    await staff.send("Double 11 starts tonight!")
    await staff.send_photo("pic-2")
    assert "已配图" in staff.text
    await staff.press("添加对比版本")
    await staff.send(LONG_EMOJI)
    assert staff.text == ZH("bc.caption_too_long", most=1024, length=1200)
    await staff.press("取消")
    await staff.send("/broadcast")
    await staff.send("双11充值节今晚开始！")
    await staff.send("Double 11 starts tonight!")
    await staff.send_photo("pic-2")
    await staff.press("查看优惠")
    await staff.press("下一步")
    await staff.press("不针对具体活动")
    await staff.press("确认受众")
    assert "图片：有" in staff.text

    # The test send is the picture with each language's caption.
    await staff.press("先发给我看看")
    pushes = [reply for reply in staff.replies if reply.photo is not None]
    assert [(p.photo, p.text) for p in pushes] == [
        ("pic-2", "双11充值节今晚开始！"),
        ("pic-2", "Double 11 starts tonight!"),
    ]
    await staff.press("立即发送")
    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 3  # the staff member, 301, 302
    assert {reply.photo for _, reply in outbox.sent} == {"pic-2"}
    actions = await world.services.broadcasts.actions(1)
    assert [what for _, what, _ in actions] == ["create", "send"]


async def test_a_deep_link_opens_the_screen_of_the_typed_button(world: App) -> None:
    ids = await customers(world, range(311, 313))
    broadcast_id = await world.services.broadcasts.create(
        PushContent("看优惠", "See offers", (PushTarget.OFFERS, PushTarget.RECHARGE), links=True),
        STAFF_ID,
    )
    world.services.broadcasts.bot_username = "wallet_test_bot"
    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 2
    [(_, push), _] = outbox.sent
    urls = [row[0].url for row in push.buttons[:2]]
    assert urls == [
        f"https://t.me/wallet_test_bot?start=push_{broadcast_id}_offers",
        f"https://t.me/wallet_test_bot?start=push_{broadcast_id}_recharge",
    ]

    pressed = Chat.of(world.conversation, telegram_id=311)
    await pressed.press_data(PushOpen(broadcast_id, PushTarget.RECHARGE).pack())
    linked = Chat.of(world.conversation, telegram_id=312)
    await linked.send(f"/start push_{broadcast_id}_recharge")
    assert linked.texts == pressed.texts
    # Counted as a press of the push, once.
    reports = await world.services.broadcasts.report(broadcast_id)
    assert reports[0].pressed == 2

    for tampered in (
        f"push_{broadcast_id}_bogus",
        f"push_{broadcast_id + 7}_offers",
        "push_abc_offers",
    ):
        await linked.send(f"/start {tampered}")
        assert linked.texts == [ZH("push.bad_link")]
    assert ids  # both customers were reached
