"""Whole conversations through the neutral contract: what a customer sees and what is kept."""

from __future__ import annotations

import pytest

from bot.assembly import App, build_app
from domain.languages import Language
from handlers.contract import ContactKeyboard, RemoveKeyboard
from handlers.conversation import build_conversation
from tests.conftest import make_settings
from tests.handlers.chat import Chat


@pytest.fixture
def chat(app: App) -> Chat:
    return Chat.of(app.conversation)


async def test_start_registers_and_greets_in_chinese_with_the_menu(chat: Chat, app: App) -> None:
    await chat.send("/start")
    assert "小明，您好" in chat.texts[0]
    assert [b.text for b in chat.buttons()] == [
        "💰 充值",
        "🎁 优惠活动",
        "📱 我的号码",
        "⭐ 我的积分",
        "👛 我的钱包",
        "🧾 我的订单",
        "🤝 邀请好友",
        "🌐 语言 / Language",
        "💬 意见与投诉",
        "🔒 隐私",
        "❓ 帮助",
    ]
    turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
    assert not turn.customer.is_new and turn.customer.language is Language.ZH_CN
    await chat.send("/start")
    assert "欢迎回来" in chat.texts[0]


async def test_english_telegram_users_are_greeted_in_english(app: App) -> None:
    chat = Chat.of(app.conversation, telegram_id=2002, language="en-US")
    await chat.send("/start")
    assert chat.texts[0].startswith("Hello 小明, welcome")
    assert "📱 My numbers" in [b.text for b in chat.buttons()]


async def test_language_switch_is_kept_whatever_telegram_says_later(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("语言")
    assert chat.text == "请选择语言："
    await chat.press("English")
    assert chat.texts[0] == "Language set to English."
    assert chat.replies[0].edit
    await chat.send("/menu")
    assert chat.text == "What would you like to do?"
    await chat.send("/language")
    assert "✓ English" in [b.text for b in chat.buttons()]


async def test_binding_by_shared_contact_shows_the_number_masked(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("我的号码")
    assert "还没有绑定" in chat.text
    await chat.press("绑定新号码")
    assert isinstance(chat.replies[0].keyboard, ContactKeyboard)
    await chat.share_contact("+8618612345678")
    assert chat.texts[0] == "绑定成功：186****5678（中国联通）"
    assert isinstance(chat.replies[0].keyboard, RemoveKeyboard)
    await chat.send("/phones")
    assert "• 186****5678（中国联通）" in chat.text
    assert "18612345678" not in chat.text


async def test_a_wrong_number_is_explained_and_nothing_is_saved(chat: Chat, app: App) -> None:
    await chat.send("/bind")
    await chat.send("12345")
    assert "11 位" in chat.text
    await chat.send("12012345678")
    assert "号段" in chat.text
    await chat.send("abc")
    assert "只能包含数字" in chat.text
    turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
    assert await app.services.customers.phones(turn.customer.id) == []
    # Still waiting for a number: a right one now binds.
    await chat.send("189 1234 5678")
    assert chat.texts[0] == "绑定成功：189****5678（中国电信）"


async def test_binding_twice_and_too_many_numbers_change_nothing(chat: Chat, app: App) -> None:
    await chat.send("/bind 18612345678")
    await chat.send("/bind 18612345678")
    assert chat.texts[0] == "号码 186****5678 已经绑定过了。"
    for n in range(4):
        await chat.send(f"/bind 1381234567{n}")
    await chat.send("/bind 13912345678")
    assert "最多可绑定 5 个号码" in chat.text
    turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
    assert len(await app.services.customers.phones(turn.customer.id)) == 5


async def test_a_number_typed_at_the_menu_asks_before_binding_it(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("138 0013 8000")
    assert chat.texts[0] == "要把 138****8000（中国移动）绑定到您的账户，还是直接为它充值？"
    await chat.send("/phones")
    assert "138****8000" not in chat.text  # nothing bound silently
    await chat.send("13800138000")
    await chat.press("绑定")
    assert chat.texts[0] == "绑定成功：138****8000（中国移动）"


async def test_cancel_leaves_the_number_step(chat: Chat) -> None:
    await chat.send("/bind")
    await chat.send("/cancel")
    assert chat.texts[0] == "已取消。"
    await chat.send("12345")
    assert chat.texts[0].startswith("抱歉，我没有理解")


async def test_removing_a_number_and_forged_removal_of_anothers(chat: Chat, app: App) -> None:
    other = Chat.of(app.conversation, telegram_id=3003)
    await other.send("/bind 13800138000")
    other_turn = await app.services.customers.begin_turn(other.user, other.chat_id)
    (others_phone,) = await app.services.customers.phones(other_turn.customer.id)

    await chat.send("/bind 18612345678")
    await chat.send("/phones")
    await chat.press("解绑 186****5678")
    assert chat.last.notice == "已解绑 186****5678。"
    assert "还没有绑定" in chat.text
    await chat.press_data(f"ph-:{others_phone.id}")
    assert chat.last.notice == "没有找到这个号码，可能已经解绑。"
    assert await app.services.customers.phones(other_turn.customer.id) == [others_phone]


async def test_stale_or_forged_buttons_are_answered_with_the_menu(chat: Chat) -> None:
    await chat.send("/start")
    for data in ("nonsense", "lang:xx", "ph-:not-a-number", "x" * 64):
        await chat.press_data(data)
        assert chat.last.notice == "这个按钮已失效，请从最新菜单中选择。"
        assert chat.texts == ["请选择您要办理的业务："]


async def test_unknown_command_and_text_get_a_friendly_answer(chat: Chat) -> None:
    await chat.send("/frobnicate")
    assert chat.texts[0].startswith("抱歉，暂不支持这个命令")
    await chat.send("你好")
    assert chat.texts[0].startswith("抱歉，我没有理解")


async def test_help_and_privacy_in_both_languages(app: App) -> None:
    zh, en = Chat.of(app.conversation), Chat.of(app.conversation, 4004, "en")
    await zh.send("/help")
    assert "/delete_my_data" in zh.text and "帮助" in zh.text
    await en.send("/privacy")
    assert en.text.startswith("Privacy notice") and "masked" in en.text


async def test_erasing_personal_data_needs_confirmation(chat: Chat, app: App) -> None:
    await chat.send("/bind 18612345678")
    await chat.send("/delete_my_data")
    await chat.press("取消")
    assert chat.texts[0] == "好的，您的数据保持不变。"
    turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
    assert len(await app.services.customers.phones(turn.customer.id)) == 1

    await chat.send("/delete_my_data")
    yes = chat.button("确认删除").data or ""
    await chat.press_data(yes)
    assert chat.texts[0] == "您的个人数据已删除。"
    await chat.send("/start")
    assert "小明，您好" in chat.texts[0]  # a new customer, not "welcome back"
    # The same confirmation pressed again is stale: nothing more happens.
    await chat.press_data(yes)
    assert chat.last.notice == "这个按钮已失效，请从最新菜单中选择。"
    fresh = await app.services.customers.begin_turn(chat.user, chat.chat_id)
    assert fresh.customer.id != turn.customer.id
    assert await app.services.customers.phones(fresh.customer.id) == []


async def test_an_old_confirmation_button_does_not_erase(chat: Chat, app: App) -> None:
    await chat.send("/bind 18612345678")
    await chat.press_data("erase:1")
    assert chat.last.notice == "这个按钮已失效，请从最新菜单中选择。"
    turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
    assert len(await app.services.customers.phones(turn.customer.id)) == 1


async def test_a_restart_mid_conversation_continues_where_the_customer_was(
    sqlite_url: str,
) -> None:
    first = await build_app(make_settings(sqlite_url, demo_mode=True))
    chat = Chat.of(first.conversation)
    await chat.send("/bind")
    await first.close()

    second = await build_app(make_settings(sqlite_url, demo_mode=True))
    try:
        chat.conversation = build_conversation(second.services)
        await chat.send("13800138000")
        assert chat.texts[0] == "绑定成功：138****8000（中国移动）"
    finally:
        await second.close()


async def test_a_failing_use_case_is_explained_and_changes_nothing(
    chat: Chat, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("database went away")

    await chat.send("/bind")
    monkeypatch.setattr(app.services.customers, "bind_phone", broken)
    await chat.send("18612345678")
    assert chat.texts == ["抱歉，系统暂时出了点问题，您的操作没有生效，请稍后再试。"]
    monkeypatch.undo()
    await chat.send("18612345678")  # still at the number step
    assert chat.texts[0] == "绑定成功：186****5678（中国联通）"
