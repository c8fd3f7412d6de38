"""The python-telegram-bot front end over real HTTP against the fake Bot API server.

A customer's chat is played through the fake server (what a Telegram client would send) and the
assertions are on what the customer would see there: messages, buttons, keyboards, notices.
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
from telegram import Update
from telegram.error import InvalidToken

from bot.assembly import App, build_app
from bot.ptb import ChatOrderedProcessor, PtbFrontend, run_ptb
from domain.errors import DatabaseBusy
from domain.languages import Language
from domain.phone import mask
from handlers.contract import Reply
from handlers.features.phones import ShowPhones
from handlers.i18n import texts
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeGroup, FakeUser, JSONDict, Mark

pytestmark = pytest.mark.timeout(20)

EN = texts(Language.EN)
ZH = texts(Language.ZH_CN)
XIAOMING = FakeUser(id=1001, first_name="小明", username="xm", language_code="zh-hans")
BOB = FakeUser(id=1002, first_name="Bob", last_name="Stone", language_code="en")
NUMBER = "18612345678"
MASKED = "186****5678"
WEBHOOK_SECRET = "s3cret_Token-42"


# -- the bot under test -------------------------------------------------------------------------
@asynccontextmanager
async def running_bot(api: FakeBotApi, database_url: str, **settings: Any) -> AsyncIterator[App]:
    """The product on `database_url`, served by the PTB front end against the fake server."""
    app = await build_app(
        make_settings(
            database_url,
            demo_mode=True,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            bot_frontend="ptb",
            **settings,
        )
    )
    frontend = PtbFrontend(app)
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
    """The fake server with the bot polling it."""
    async with running_bot(api, sqlite_url):
        yield api
        # Every button a customer pressed was answered: no client is left with a spinner.
        await api.wait_for(lambda: not api.unanswered_callback_queries(), what="all answered")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- what the customer sees ---------------------------------------------------------------------
def labels(message: JSONDict) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def now(api: FakeBotApi, message: JSONDict) -> JSONDict:
    """The message as the customer sees it now (after edits)."""
    current = api.message(message["chat"]["id"], message["message_id"])
    assert current is not None
    return current


def is_menu(message: JSONDict, t: Any) -> bool:
    return message["text"] == t("menu.title") and t("menu.phones") in labels(message)


async def say(api: FakeBotApi, user: FakeUser, text: str, count: int = 1) -> list[JSONDict]:
    api.send_text(user, text)
    return await api.wait_for_message(user.id, count)


async def press(api: FakeBotApi, user: FakeUser, message: JSONDict, label: str) -> JSONDict:
    """Press the one button whose text contains `label`; the callback answer (the notice)."""
    rows = now(api, message).get("reply_markup", {}).get("inline_keyboard", [])
    found = [button for row in rows for button in row if label in button["text"]]
    assert len(found) == 1, f"{label!r} in {labels(now(api, message))}"
    update_id = api.press_button(user, message, found[0]["callback_data"])
    return await api.wait_for_callback_answer(update_id)


async def press_to_edit(api: FakeBotApi, user: FakeUser, message: JSONDict, label: str) -> JSONDict:
    """Press a button that changes its own message; the message as it became."""
    await press(api, user, message, label)
    return await api.wait_for_edit(user.id)


async def start(api: FakeBotApi, user: FakeUser) -> JSONDict:
    """/start; the menu message."""
    _welcome, menu = await say(api, user, "/start", count=2)
    return menu


async def ask_to_bind(api: FakeBotApi, user: FakeUser, t: Any) -> JSONDict:
    """From /start through "My numbers" to "Bind a number"; the bot's question."""
    menu = await start(api, user)
    phones = await press_to_edit(api, user, menu, t("menu.phones"))
    assert phones["text"] == t("phones.none")
    await press(api, user, phones, t("phones.add"))
    [question] = await api.wait_for_message(user.id)
    return question


# -- polling ------------------------------------------------------------------------------------
async def test_start_greets_in_chinese_by_default(polling: FakeBotApi) -> None:
    welcome, menu = await say(polling, XIAOMING, "/start", count=2)

    assert welcome["text"] == ZH("start.welcome_new", name="小明")
    assert is_menu(menu, ZH)
    assert {ZH("menu.phones"), ZH("menu.language"), ZH("menu.help")} <= set(labels(menu))


async def test_start_greets_in_english_when_the_client_is_english(polling: FakeBotApi) -> None:
    welcome, menu = await say(polling, BOB, "/start", count=2)

    assert welcome["text"] == EN("start.welcome_new", name="Bob")
    assert is_menu(menu, EN)


async def test_commands_with_a_payload_or_the_bots_name(polling: FakeBotApi) -> None:
    welcome, _menu = await say(polling, BOB, "/start campaign42", count=2)
    assert welcome["text"] == EN("start.welcome_new", name="Bob")

    [menu] = await say(polling, BOB, f"/menu@{polling.bot_username}")
    assert is_menu(menu, EN)


async def test_in_a_group_commands_for_another_bot_are_left_alone(polling: FakeBotApi) -> None:
    group = FakeGroup(id=-100_777, title="Wallet fans")
    polling.add_group(group, bot_is_admin=True)  # an admin bot sees every message
    mark = polling.mark()

    polling.send_text(BOB, "/menu@other_bot", chat=group)
    polling.send_text(BOB, f"/phones@{polling.bot_username}", chat=group)
    [first] = await polling.wait_for_message(group.id, after=mark)

    assert first["text"] == EN("phones.none")  # the menu for the other bot never came
    assert [call["chat_id"] for call in polling.calls_to("sendMessage")] == [group.id]


async def test_switching_the_language(polling: FakeBotApi) -> None:
    menu = await start(polling, XIAOMING)

    choices = await press_to_edit(polling, XIAOMING, menu, ZH("menu.language"))
    assert choices["text"] == ZH("language.choose")

    chosen = await press_to_edit(polling, XIAOMING, choices, "English")
    [new_menu] = await polling.wait_for_message(XIAOMING.id)
    assert chosen["text"] == EN("language.set")
    assert labels(chosen) == []
    assert is_menu(new_menu, EN)
    [again] = await say(polling, XIAOMING, "/menu")
    assert is_menu(again, EN)


async def test_binding_a_number_by_sharing_the_contact(polling: FakeBotApi) -> None:
    question = await ask_to_bind(polling, BOB, EN)

    assert question["text"] == EN("phones.ask")
    keyboard = polling.reply_keyboard(BOB.id)
    assert keyboard is not None
    assert keyboard["keyboard"] == [[{"text": EN("phones.share_button"), "request_contact": True}]]
    assert keyboard.get("resize_keyboard") and keyboard.get("one_time_keyboard")

    polling.share_contact(BOB, f"+86{NUMBER}")
    bound, menu = await polling.wait_for_message(BOB.id, 2)

    assert bound["text"] == EN("phones.bound", number=MASKED, carrier=EN("carrier.unicom"))
    assert polling.reply_keyboard(BOB.id) is None
    assert is_menu(menu, EN)
    [phones] = await say(polling, BOB, "/phones")
    assert MASKED in phones["text"]


async def test_a_wrong_number_is_refused_and_nothing_is_bound(polling: FakeBotApi) -> None:
    await ask_to_bind(polling, BOB, EN)

    [refusal] = await say(polling, BOB, "12345")

    assert refusal["text"] == EN("phones.invalid.length")
    [phones] = await say(polling, BOB, "/phones")
    assert phones["text"] == EN("phones.none")


async def test_a_stale_or_forged_button_is_answered_with_the_menu(polling: FakeBotApi) -> None:
    menu = await start(polling, BOB)

    for forged in ("gone:1", "ph-:abc", "x" * 64):
        update_id = polling.press_button(BOB, menu, forged, check=False)
        answer = await polling.wait_for_callback_answer(update_id)
        [shown] = await polling.wait_for_message(BOB.id)

        assert answer["text"] == EN("button.expired")
        assert is_menu(shown, EN)


async def test_pressing_a_button_of_a_message_that_cannot_be_edited(polling: FakeBotApi) -> None:
    menu = await start(polling, BOB)
    polling.fail_next("editMessageText", 400, "Bad Request: message can't be edited")

    await press(polling, BOB, menu, EN("menu.phones"))
    [phones] = await polling.wait_for_message(BOB.id)

    assert phones["text"] == EN("phones.none")
    assert EN("phones.add") in labels(phones)


async def test_an_unchanged_edit_is_quietly_done(polling: FakeBotApi) -> None:
    menu = await start(polling, BOB)
    phones = await press_to_edit(polling, BOB, menu, EN("menu.phones"))
    mark = polling.mark()

    # "My numbers" pressed again (an older copy of the message): the edit changes nothing.
    update_id = polling.press_button(BOB, phones, ShowPhones().pack(), check=False)
    await polling.wait_for_callback_answer(update_id)
    polling.send_text(BOB, "/menu")
    [next_message] = await polling.wait_for_message(BOB.id, after=mark)

    assert any("not modified" in error.description for error in polling.errors)
    assert is_menu(next_message, EN)  # no copy of the list was sent instead
    assert now(polling, phones) == phones


async def test_a_failed_send_does_not_stop_the_bot(polling: FakeBotApi) -> None:
    polling.fail_next("sendMessage", 500, "Internal Server Error")

    [menu] = await say(polling, BOB, "/start")  # the welcome was lost; the menu arrives
    assert is_menu(menu, EN)
    [menu_again] = await say(polling, BOB, "/menu")
    assert is_menu(menu_again, EN)


async def test_a_press_is_answered_even_when_the_conversation_fails(
    api: FakeBotApi, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(api, sqlite_url) as app:
        menu = await start(api, BOB)

        async def unavailable(_event: object) -> None:
            raise ConnectionError("the database is gone")

        monkeypatch.setattr(app.conversation, "handle", unavailable)
        answer = await press(api, BOB, menu, EN("menu.phones"))

    assert answer["text"] is None
    assert now(api, menu) == menu


async def test_a_short_flood_wait_is_waited_out(polling: FakeBotApi) -> None:
    polling.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)

    welcome, menu = await say(polling, BOB, "/start", count=2)

    assert welcome["text"] == EN("start.welcome_new", name="Bob")
    assert is_menu(menu, EN)


async def test_many_chats_at_once_each_in_order(polling: FakeBotApi) -> None:
    users = [FakeUser(id=5000 + n, first_name=f"U{n}", language_code="en") for n in range(12)]
    for user in users:
        polling.send_text(user, "/bind")
        polling.send_text(user, f"186{user.id:08d}")

    for user in users:
        ask, bound, menu = await polling.wait_for_message(user.id, 3, after=Mark())
        number = mask(f"186{user.id:08d}")
        assert ask["text"] == EN("phones.ask")
        assert bound["text"] == EN("phones.bound", number=number, carrier=EN("carrier.unicom"))
        assert is_menu(menu, EN)


# -- Telegram Payments ---------------------------------------------------------------------------
@pytest.fixture
async def shop(api: FakeBotApi, sqlite_url: str) -> AsyncIterator[FakeBotApi]:
    """The bot polling, with Telegram Payments offered (a provider token is set)."""
    async with running_bot(
        api, sqlite_url, payment_provider_token="PROVIDER-TEST", sandbox_topup_delay_seconds=0
    ):
        yield api


async def invoice_for_30_yuan(api: FakeBotApi, user: FakeUser) -> JSONDict:
    """/bind, /recharge, 30 yuan, pay by Telegram: the invoice."""
    await say(api, user, f"/bind {NUMBER}", count=2)
    [amounts] = await say(api, user, "/recharge")  # one bound number: its call credit grid
    confirmation = await press_to_edit(api, user, amounts, "30元")
    await press(api, user, confirmation, "💳 Telegram 支付")
    [invoice] = await api.wait_for_message(user.id)
    return invoice


async def test_paying_an_invoice_to_a_receipt(shop: FakeBotApi) -> None:
    invoice = await invoice_for_30_yuan(shop, XIAOMING)

    assert invoice["invoice"]["currency"] == "CNY"
    assert invoice["invoice"]["total_amount"] == 3000
    [call] = shop.calls_to("sendInvoice")
    assert call["provider_token"] == "PROVIDER-TEST"

    mark = shop.mark()
    assert await shop.pay_invoice(XIAOMING, invoice)
    [receipt] = await shop.wait_for_message(XIAOMING.id, after=mark)
    assert receipt["text"].startswith("✅ 充值成功")


async def test_someone_else_cannot_pay_the_invoice(shop: FakeBotApi) -> None:
    invoice = await invoice_for_30_yuan(shop, XIAOMING)
    stranger = FakeUser(id=4242, first_name="Eve", language_code="en")

    assert not await shop.pay_invoice(stranger, invoice)
    [answer] = shop.pre_checkout_answers
    assert answer["ok"] is False and answer["error_message"]


async def test_a_wrong_token_fails_at_start(api: FakeBotApi, sqlite_url: str) -> None:
    app = await build_app(
        make_settings(
            sqlite_url, demo_mode=True, bot_token="999:WRONG", telegram_api_url=api.base_url
        )
    )
    try:
        with pytest.raises(InvalidToken):
            await PtbFrontend(app).start()
    finally:
        await app.close()


# -- the outbound port (messages nobody just asked for) ------------------------------------------
async def test_the_scheduler_can_send_through_the_running_bot(
    api: FakeBotApi, sqlite_url: str
) -> None:
    api.add_user(BOB)
    async with running_bot(api, sqlite_url) as app:
        delivered = await app.outbound.send(BOB.id, Reply("Your top-up has arrived."))
        undeliverable = await app.outbound.send(666, Reply("To a chat the bot never met"))

    assert delivered and not undeliverable
    assert [m["text"] for m in api.messages_to(BOB.id)] == ["Your top-up has arrived."]
    assert not await app.outbound.send(BOB.id, Reply("After the bot stopped"))


# -- order within a chat, fairness between chats -------------------------------------------------
def update_in(chat_id: int, update_id: int) -> Update:
    user = {"id": chat_id, "is_bot": False, "first_name": "U"}
    message = {
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private"},
        "from": user,
        "text": "hi",
    }
    return Update.de_json({"update_id": update_id, "message": message}, None)


async def test_one_flooding_chat_does_not_hold_up_the_others() -> None:
    processor = ChatOrderedProcessor(max_running=2)
    release = asyncio.Event()
    seen: list[tuple[int, int]] = []

    async def handle(chat_id: int, update_id: int, *, wait: bool) -> None:
        if wait:
            await release.wait()
        seen.append((chat_id, update_id))

    flood = [
        asyncio.create_task(processor.process_update(update_in(1, n), handle(1, n, wait=True)))
        for n in range(5)
    ]
    try:
        other = processor.process_update(update_in(2, 99), handle(2, 99, wait=False))
        await asyncio.wait_for(other, timeout=2)
        assert seen == [(2, 99)]
    finally:
        release.set()
        await asyncio.gather(*flood)
    assert seen[1:] == [(1, n) for n in range(5)]


# -- restart ------------------------------------------------------------------------------------
async def test_a_restart_continues_the_conversation(api: FakeBotApi, sqlite_url: str) -> None:
    async with running_bot(api, sqlite_url):
        await ask_to_bind(api, BOB, EN)

    async with running_bot(api, sqlite_url):
        [bound, menu] = await say(api, BOB, NUMBER, count=2)

    assert bound["text"] == EN("phones.bound", number=MASKED, carrier=EN("carrier.unicom"))
    assert is_menu(menu, EN)


# -- running until told to stop ----------------------------------------------------------------
@pytest.mark.parametrize("how", ["cancel", "SIGTERM"])
async def test_run_ptb_serves_until_stopped(api: FakeBotApi, sqlite_url: str, how: str) -> None:
    app = await build_app(
        make_settings(
            sqlite_url, demo_mode=True, bot_token=api.token, telegram_api_url=api.base_url
        )
    )
    running = asyncio.create_task(run_ptb(app))
    try:
        await say(api, BOB, "/start", count=2)
        if how == "cancel":
            running.cancel()
        else:
            # Only signal once run_ptb's handler is in place: the default would end pytest.
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
            os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait({running}, timeout=5)
        assert running.done()
        assert running.cancelled() if how == "cancel" else running.result() is None
        # Stopped cleanly: what it fetched was confirmed, nothing is fetched twice.
        assert api.pending_updates == []
    finally:
        running.cancel()
        await app.close()


# -- webhook ------------------------------------------------------------------------------------
@pytest.fixture
async def webhook(api: FakeBotApi, sqlite_url: str) -> AsyncIterator[str]:
    """The bot behind a webhook the fake server delivers to; yields the webhook URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    async with running_bot(
        api,
        sqlite_url,
        webhook_url=url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_listen=f"127.0.0.1:{port}",
    ):
        yield url


async def test_webhook_serves_the_chat(api: FakeBotApi, webhook: str) -> None:
    assert api.webhook_url == webhook

    welcome, menu = await say(api, BOB, "/start", count=2)
    phones = await press_to_edit(api, BOB, menu, EN("menu.phones"))

    assert welcome["text"] == EN("start.welcome_new", name="Bob")
    assert phones["text"] == EN("phones.none")
    assert {d.status for d in api.webhook_deliveries} == {200}
    assert {d.secret_token for d in api.webhook_deliveries} == {WEBHOOK_SECRET}
    # The pressed button was answered once, in the webhook's 200 (one request less).
    assert [c.method for c in api.webhook_calls] == ["answerCallbackQuery"]
    assert len(api.calls_to("answerCallbackQuery")) == 1


@pytest.mark.parametrize("secret", [None, "wrong_secret"])
async def test_webhook_refuses_posts_without_the_secret(
    api: FakeBotApi, webhook: str, secret: str | None
) -> None:
    # Someone who found the URL posts an update in Bob's name.
    forged = {
        "update_id": 9_999,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": BOB.private_chat(),
            "from": BOB.to_api(),
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret

    async with aiohttp.ClientSession() as session:
        async with session.post(webhook, json=forged, headers=headers) as response:
            assert response.status == 403
    # Bob's own /start after it finds him new: the forged one was never taken in.
    welcome, _menu = await say(api, BOB, "/start", count=2)

    assert welcome["text"] == EN("start.welcome_new", name="Bob")
    assert len(api.calls_to("sendMessage")) == 2


async def test_polling_a_turn_without_a_database_connection_asks_to_try_again(
    api: FakeBotApi, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(api, sqlite_url) as app:
        handle = app.conversation.handle

        async def busy(_event: object) -> None:
            raise DatabaseBusy("no connection came free in time")

        monkeypatch.setattr(app.conversation, "handle", busy)
        [told] = await say(api, BOB, "/menu")
        assert told["text"] == EN("busy.try_again")
        monkeypatch.setattr(app.conversation, "handle", handle)
        [menu] = await say(api, BOB, "/menu")  # the customer sends it again
        assert is_menu(menu, EN)
