"""The aiogram front end over real HTTP against the fake Bot API server.

A customer's chat is played through the fake server, as a Telegram client would send it, and
the assertions are on what the customer would see there: messages, buttons, keyboards, notices.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiogram import Bot

from bot.aiogram import AiogramFrontend, Sender, build_bot, run_aiogram
from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.errors import DatabaseBusy
from domain.languages import Language
from handlers.contract import (
    Button,
    ContactKeyboard,
    Outcome,
    RemoveKeyboard,
    Reply,
    message_event,
)
from handlers.i18n import Texts, texts
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict, Mark
from tests.help_text import customer_help

pytestmark = pytest.mark.timeout(20)

ZH = texts(Language.ZH_CN)
EN = texts(Language.EN)
LI = FakeUser(id=2001, first_name="李雷", language_code="zh-hans")
ANNA = FakeUser(id=2002, first_name="Anna", language_code="en")
NO_LANGUAGE = FakeUser(id=2003, first_name="韩梅梅", language_code=None)
NUMBER, MASKED = "18612345678", "186****5678"
SECRET = "hook-Secret_7"


# -- the bot under test ------------------------------------------------------------------------
@asynccontextmanager
async def aiogram_bot(api: FakeBotApi, database_url: str, **settings: Any) -> AsyncIterator[App]:
    """The product on `database_url`, served by the aiogram front end against the fake."""
    app = await build_app(
        make_settings(
            database_url,
            demo_mode=True,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            bot_frontend="aiogram",
            **settings,
        )
    )
    frontend = AiogramFrontend(app)
    try:
        await frontend.start()
        yield app
    finally:
        await frontend.stop()
        await app.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
        assert not server.internal_errors


@pytest.fixture
async def polling(api: FakeBotApi, sqlite_url: str) -> AsyncIterator[FakeBotApi]:
    async with aiogram_bot(api, sqlite_url):
        yield api
        # No client is left with a spinner: every pressed button was answered.
        await api.wait_for(lambda: not api.unanswered_callback_queries(), what="all answered")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_settings() -> dict[str, Any]:
    port = free_port()
    return {
        "webhook_url": f"http://127.0.0.1:{port}/tg/hook",
        "webhook_secret": SECRET,
        "webhook_listen": f"127.0.0.1:{port}",
    }


# -- what the customer sees and does -----------------------------------------------------------
def labels(message: JSONDict) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def is_menu(message: JSONDict, t: Texts) -> bool:
    """The main menu in the language of `t` (other features may add their own entries)."""
    entries = {t("menu.phones"), t("menu.language"), t("menu.privacy"), t("menu.help")}
    return message["text"] == t("menu.title") and entries <= set(labels(message))


async def say(api: FakeBotApi, user: FakeUser, text: str, count: int = 1) -> list[JSONDict]:
    api.send_text(user, text)
    return await api.wait_for_message(user.id, count)


async def press(api: FakeBotApi, user: FakeUser, message: JSONDict, label: str) -> JSONDict:
    """Press the button labelled `label`; the callback answer (the notice the client shows)."""
    return await api.wait_for_callback_answer(api.press_button(user, message, text=label))


async def press_to_edit(api: FakeBotApi, user: FakeUser, message: JSONDict, label: str) -> JSONDict:
    await press(api, user, message, label)
    return await api.wait_for_edit(user.id)


async def start(api: FakeBotApi, user: FakeUser) -> JSONDict:
    """/start; the menu message."""
    _welcome, menu = await say(api, user, "/start", count=2)
    return menu


async def ask_to_bind(api: FakeBotApi, user: FakeUser, t: Texts) -> JSONDict:
    """/start, "My numbers", "Bind a number"; the bot's question."""
    phones = await press_to_edit(api, user, await start(api, user), t("menu.phones"))
    assert phones["text"] == t("phones.none")
    await press(api, user, phones, t("phones.add"))
    [question] = await api.wait_for_message(user.id)
    return question


# -- polling -----------------------------------------------------------------------------------
async def test_start_greets_in_chinese_by_default(polling: FakeBotApi) -> None:
    for user in (LI, NO_LANGUAGE):
        welcome, menu = await say(polling, user, "/start", count=2)

        assert welcome["text"] == ZH("start.welcome_new", name=user.first_name)
        assert is_menu(menu, ZH)


async def test_start_greets_in_english_for_an_english_client(polling: FakeBotApi) -> None:
    welcome, menu = await say(polling, ANNA, "/start", count=2)

    assert welcome["text"] == EN("start.welcome_new", name="Anna")
    assert is_menu(menu, EN)


async def test_commands_with_a_payload_or_a_bot_name(polling: FakeBotApi) -> None:
    welcome, _menu = await say(polling, ANNA, "/start promo_42", count=2)
    assert welcome["text"] == EN("start.welcome_new", name="Anna")

    [menu] = await say(polling, ANNA, f"/menu@{polling.bot_username}")
    assert is_menu(menu, EN)

    # Meant for another bot: ignored. The chat's updates are handled in order, so once /help is
    # answered the one before it is done too.
    polling.send_text(ANNA, "/menu@some_other_bot")
    [help_text] = await say(polling, ANNA, "/help")
    assert help_text["text"] == customer_help(Language.EN)


async def test_switching_the_language(polling: FakeBotApi) -> None:
    menu = await start(polling, LI)

    choices = await press_to_edit(polling, LI, menu, ZH("menu.language"))
    assert choices["text"] == ZH("language.choose")
    assert labels(choices) == ["✓ 中文", "English", ZH("menu.back")]

    answer = await press(polling, LI, choices, "English")
    chosen = await polling.wait_for_edit(LI.id)
    [new_menu] = await polling.wait_for_message(LI.id)

    assert answer["text"] is None
    assert chosen["text"] == EN("language.set")
    assert labels(chosen) == []  # the edit took the old buttons away
    assert is_menu(new_menu, EN)


async def test_binding_a_number_by_sharing_the_contact(polling: FakeBotApi) -> None:
    question = await ask_to_bind(polling, ANNA, EN)

    assert question["text"] == EN("phones.ask")
    assert polling.reply_keyboard(ANNA.id) == {
        "keyboard": [[{"text": EN("phones.share_button"), "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }

    polling.share_contact(ANNA, f"+86{NUMBER}")
    bound, menu = await polling.wait_for_message(ANNA.id, 2)

    assert bound["text"] == EN("phones.bound", number=MASKED, carrier=EN("carrier.unicom"))
    assert polling.reply_keyboard(ANNA.id) is None
    assert is_menu(menu, EN)
    phones = await press_to_edit(polling, ANNA, menu, EN("menu.phones"))
    assert phones["text"] == "\n".join(
        [EN("phones.list_header"), EN("phones.item", number=MASKED, carrier=EN("carrier.unicom"))]
    )
    assert EN("phones.remove", number=MASKED) in labels(phones)


async def test_a_wrong_number_is_refused_and_nothing_is_bound(polling: FakeBotApi) -> None:
    await ask_to_bind(polling, LI, ZH)

    [refusal] = await say(polling, LI, "1861234")

    assert refusal["text"] == ZH("phones.invalid.length")
    assert polling.reply_keyboard(LI.id) is not None  # still asked for a number
    [phones] = await say(polling, LI, "/phones")
    assert phones["text"] == ZH("phones.none")


async def test_a_forged_button_is_answered_and_shows_the_menu(polling: FakeBotApi) -> None:
    menu = await start(polling, ANNA)

    for forged in ("nope:1", "ph-:x", "lang:xx", "erase:1"):
        update_id = polling.press_button(ANNA, menu, forged, check=False)
        answer = await polling.wait_for_callback_answer(update_id)
        [shown] = await polling.wait_for_message(ANNA.id)

        assert answer["text"] == EN("button.expired")
        assert is_menu(shown, EN)


async def test_an_unchanged_edit_is_fine_and_an_uneditable_message_gets_a_new_one(
    polling: FakeBotApi,
) -> None:
    menu = await start(polling, ANNA)
    help_message = await press_to_edit(polling, ANNA, menu, EN("menu.help"))

    # A double tap of "Help" (the second press arrives after the edit): Telegram says "message
    # is not modified"; the press is answered and nothing more is sent.
    mark = polling.mark()
    double_tap = polling.press_button(ANNA, help_message, "help", check=False)
    await polling.wait_for_callback_answer(double_tap)
    [menu_again] = await say(polling, ANNA, "/menu")
    assert polling.edits[mark.edits :] == []
    assert [m["text"] for m in polling.messages_to(ANNA.id)[-2:]] == [
        customer_help(Language.EN),
        EN("menu.title"),
    ]
    assert is_menu(menu_again, EN)

    # A button on a message the bot cannot edit (here: the customer's own): sent anew.
    own = next(m for m in polling.chat_history(ANNA.id) if m["from"]["id"] == ANNA.id)
    polling.press_button(ANNA, own, "help", check=False)
    [sent] = await polling.wait_for_message(ANNA.id)
    assert sent["text"] == customer_help(Language.EN)
    assert labels(sent) == [EN("menu.back")]


async def test_a_failed_send_is_logged_and_the_bot_keeps_going(polling: FakeBotApi) -> None:
    polling.fail_next("sendMessage", 400, "Bad Request: chat not found")
    [menu] = await say(polling, ANNA, "/start")  # the welcome was lost, the menu still came
    assert is_menu(menu, EN)

    polling.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    welcome, _menu = await say(polling, ANNA, "/start", count=2)  # retried after the pause
    assert welcome["text"] == EN("start.welcome_back", name="Anna")


async def test_many_customers_at_once_each_chat_in_order(polling: FakeBotApi) -> None:
    users = [FakeUser(id=3000 + n, first_name=f"C{n}", language_code="en") for n in range(20)]
    for user in users:
        polling.send_text(user, "/start")
        polling.send_text(user, "/help")
    for user in users:
        welcome, menu, help_text = await polling.wait_for_message(user.id, 3, after=Mark())
        assert welcome["text"] == EN("start.welcome_new", name=user.first_name)
        assert is_menu(menu, EN)
        assert help_text["text"] == customer_help(Language.EN)


async def test_every_reply_shape_reaches_the_chat_it_is_for(
    api: FakeBotApi, sqlite_url: str
) -> None:
    """The Sender alone, through a real aiogram Bot to the fake server."""
    staff = FakeUser(id=2999, first_name="Staff")
    api.add_user(LI)
    api.add_user(staff)
    settings = make_settings(
        sqlite_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url
    )
    bot: Bot = build_bot(settings)
    event = message_event(TelegramProfile(LI.id, LI.first_name), LI.id, "hi")
    outcome = Outcome(
        replies=[
            Reply("share", keyboard=ContactKeyboard("📱")),
            Reply("link", ((Button("site", url="https://example.com"), Button("ok", "menu")),)),
            Reply("to staff", chat_id=staff.id),
            Reply("done", keyboard=RemoveKeyboard()),
        ]
    )
    try:
        await Sender(bot).deliver(event, outcome)
    finally:
        await bot.session.close()

    share, link, done = api.messages_to(LI.id)
    [to_staff] = api.messages_to(staff.id)
    assert share["text"] == "share" and done["text"] == "done" and to_staff["text"] == "to staff"
    assert link["reply_markup"]["inline_keyboard"] == [
        [{"text": "site", "url": "https://example.com"}, {"text": "ok", "callback_data": "menu"}]
    ]
    assert api.reply_keyboard(LI.id) is None


# -- Telegram Payments -------------------------------------------------------------------------
@pytest.fixture
async def shop(api: FakeBotApi, sqlite_url: str) -> AsyncIterator[FakeBotApi]:
    """The bot polling, with Telegram Payments offered (a provider token is set)."""
    settings = {"payment_provider_token": "PROVIDER-TEST", "sandbox_topup_delay_seconds": 0}
    async with aiogram_bot(api, sqlite_url, **settings):
        yield api


def button_containing(message: JSONDict, part: str) -> str:
    """The callback data of the first button whose label contains `part`."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return next(b["callback_data"] for row in rows for b in row if part in b["text"])


async def invoice_for_30_yuan(api: FakeBotApi, user: FakeUser) -> JSONDict:
    """/bind, /recharge, 30 yuan, pay in Telegram: the invoice."""
    await say(api, user, f"/bind {NUMBER}", count=2)
    [products] = await say(api, user, "/recharge")  # one bound number: its call credit grid
    api.press_button(user, products, button_containing(products, "30"))
    confirmation = await api.wait_for_edit(user.id)
    await press(api, user, confirmation, EN("pay.with.telegram"))
    [invoice] = await api.wait_for_message(user.id)
    return invoice


async def test_paying_an_invoice_to_a_receipt(shop: FakeBotApi) -> None:
    invoice = await invoice_for_30_yuan(shop, ANNA)

    assert invoice["invoice"]["currency"] == "CNY"
    assert invoice["invoice"]["total_amount"] == 3000
    [call] = shop.calls_to("sendInvoice")
    assert call["provider_token"] == "PROVIDER-TEST"

    mark = shop.mark()
    assert await shop.pay_invoice(ANNA, invoice)
    [receipt] = await shop.wait_for_message(ANNA.id, after=mark)
    headline = receipt["text"].splitlines()[0]
    assert headline in {EN("receipt.headline.paid"), EN("receipt.headline.completed")}
    assert MASKED in receipt["text"] and EN("pay.method.telegram") in receipt["text"]


async def test_someone_else_cannot_pay_the_invoice(shop: FakeBotApi) -> None:
    invoice = await invoice_for_30_yuan(shop, ANNA)
    stranger = FakeUser(id=4343, first_name="Eve", language_code="en")

    assert not await shop.pay_invoice(stranger, invoice)
    [answer] = shop.pre_checkout_answers
    assert answer["ok"] is False and answer["error_message"]


# -- the outbound port (messages nobody just asked for) ----------------------------------------
async def test_the_scheduler_can_send_through_the_running_bot(
    api: FakeBotApi, sqlite_url: str
) -> None:
    api.add_user(ANNA)
    async with aiogram_bot(api, sqlite_url) as app:
        delivered = await app.outbound.send(ANNA.id, Reply("Your top-up has arrived."))
        undeliverable = await app.outbound.send(666, Reply("To a chat the bot never met"))

    assert delivered and not undeliverable
    assert [m["text"] for m in api.messages_to(ANNA.id)] == ["Your top-up has arrived."]
    assert not await app.outbound.send(ANNA.id, Reply("After the bot stopped"))


# -- restart -----------------------------------------------------------------------------------
async def test_a_restart_continues_the_conversation(api: FakeBotApi, sqlite_url: str) -> None:
    async with aiogram_bot(api, sqlite_url):
        await ask_to_bind(api, ANNA, EN)
    assert api.pending_updates == []  # handled updates confirmed: none is handled twice

    async with aiogram_bot(api, sqlite_url):
        # Still at "type a number": a bad one is refused as a number, not as an unknown text.
        [refusal] = await say(api, ANNA, "1861234")
        assert refusal["text"] == EN("phones.invalid.length")

        bound, menu = await say(api, ANNA, NUMBER, count=2)
        assert bound["text"] == EN("phones.bound", number=MASKED, carrier=EN("carrier.unicom"))
        assert is_menu(menu, EN)


async def test_run_aiogram_stops_cleanly_when_cancelled_or_signalled(
    api: FakeBotApi, sqlite_url: str
) -> None:
    app = await build_app(
        make_settings(
            sqlite_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url
        )
    )
    try:
        running = asyncio.create_task(run_aiogram(app))
        welcome, _menu = await say(api, ANNA, "/start", count=2)
        assert welcome["text"] == EN("start.welcome_new", name="Anna")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

        running = asyncio.create_task(run_aiogram(app))
        await say(api, ANNA, "/menu")  # running: its signal handlers are in place
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(running, 5)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        await app.close()


# -- webhook -----------------------------------------------------------------------------------
async def test_webhook_mode_serves_the_menu(api: FakeBotApi, sqlite_url: str) -> None:
    settings = webhook_settings()
    async with aiogram_bot(api, sqlite_url, **settings):
        [hook] = api.calls_to("setWebhook")
        assert hook["url"] == settings["webhook_url"] and hook["secret_token"] == SECRET

        welcome, menu = await say(api, LI, "/start", count=2)
        assert welcome["text"] == ZH("start.welcome_new", name=LI.first_name)
        phones = await press_to_edit(api, LI, menu, ZH("menu.phones"))
        assert phones["text"] == ZH("phones.none")
        await api.wait_until_consumed()

    assert {d.status for d in api.webhook_deliveries} == {200}
    assert api.calls_to("getUpdates") == []
    # The pressed button was answered once, in the webhook's 200 (one request less).
    assert [c.method for c in api.webhook_calls] == ["answerCallbackQuery"]
    assert len(api.calls_to("answerCallbackQuery")) == 1


async def test_webhook_refuses_a_request_without_the_secret(
    api: FakeBotApi, sqlite_url: str
) -> None:
    settings = webhook_settings()
    forged = {
        "update_id": 999,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": LI.private_chat(),
            "from": LI.to_api(),
            "text": "/start",
        },
    }
    async with aiogram_bot(api, sqlite_url, **settings):
        calls_before = len(api.calls)
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(settings["webhook_url"], json=forged, headers=headers) as r:
                    assert r.status in (401, 403)
        assert len(api.calls) == calls_before

        # Nothing changed: the customer is still new to the bot.
        welcome, _menu = await say(api, LI, "/start", count=2)
        assert welcome["text"] == ZH("start.welcome_new", name=LI.first_name)


async def test_webhook_mode_needs_a_secret(api: FakeBotApi, sqlite_url: str) -> None:
    # Settings refuse this already; the front end does not rely on it.
    settings = make_settings(
        sqlite_url,
        demo_mode=True,
        bot_token=api.token,
        telegram_api_url=api.base_url,
        **webhook_settings(),
    ).model_copy(update={"webhook_secret": None})
    app = await build_app(settings)
    frontend = AiogramFrontend(app)
    try:
        with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
            await frontend.start()
    finally:
        await frontend.stop()
        await app.close()
    assert api.calls_to("setWebhook") == []


async def test_polling_a_turn_without_a_database_connection_asks_to_try_again(
    api: FakeBotApi, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aiogram_bot(api, sqlite_url) as app:
        handle = app.conversation.handle

        async def busy(_event: object) -> None:
            raise DatabaseBusy("no connection came free in time")

        monkeypatch.setattr(app.conversation, "handle", busy)
        [told] = await say(api, ANNA, "/menu")
        assert told["text"] == EN("busy.try_again")
        monkeypatch.setattr(app.conversation, "handle", handle)
        [menu] = await say(api, ANNA, "/menu")  # the customer sends it again
        assert is_menu(menu, EN)
