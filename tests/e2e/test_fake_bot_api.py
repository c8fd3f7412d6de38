"""The fake Bot API server, exercised over real HTTP with both real client libraries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import telegram
from aiogram import Bot as AiogramBot
from aiogram import Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton as AiogramButton
from aiogram.types import InlineKeyboardMarkup as AiogramKeyboard
from aiogram.types import Message as AiogramMessage
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

from tests.fakes.bot_api import FakeBotApi, FakeGroup, FakeUser, JSONDict

ALICE = FakeUser(id=1001, first_name="小明", username="xm", language_code="zh-hans")
BOB = FakeUser(id=1002, first_name="Bob", last_name="Stone", language_code="en")
STAFF = FakeUser(id=2001, first_name="Agent", username="agent_1")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
        assert not server.internal_errors


@pytest.fixture
async def ptb(api: FakeBotApi) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(api.token, base_url=f"{api.base_url}/bot") as bot:
        yield bot


@pytest.fixture
async def aio(api: FakeBotApi) -> AsyncIterator[AiogramBot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    bot = AiogramBot(api.token, session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


async def _raw(
    api: FakeBotApi, method: str, *, token: str | None = None, http: str = "POST", **kwargs: Any
) -> tuple[int, JSONDict]:
    url = f"{api.base_url}/bot{token or api.token}/{method}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(http, url, **kwargs) as response,
    ):
        return response.status, await response.json()


# --------------------------------------------------------------------------- HTTP and params


async def test_wrong_token_unknown_method_and_case_insensitive_names(api: FakeBotApi) -> None:
    assert await _raw(api, "getMe", token="123456:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    status, body = await _raw(api, "getMe", token="not-a-token")
    assert (status, body["description"]) == (404, "Not Found")
    assert await _raw(api, "sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    status, body = await _raw(api, "GETME", http="GET")
    assert status == 200 and body["ok"] is True
    assert body["result"]["username"] == "wallet_test_bot"
    assert body["result"]["is_bot"] is True and body["result"]["id"] == 123456
    assert api.calls[-1].method == "getMe"


async def test_parameters_as_json_form_multipart_and_query(api: FakeBotApi) -> None:
    api.add_user(ALICE)
    keyboard = {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}
    status, body = await _raw(
        api, "sendMessage", json={"chat_id": ALICE.id, "text": "100", "reply_markup": keyboard}
    )
    assert status == 200 and body["result"]["text"] == "100"
    assert body["result"]["reply_markup"] == keyboard

    form = {"chat_id": str(ALICE.id), "text": "42", "reply_markup": json.dumps(keyboard)}
    status, body = await _raw(api, "sendMessage", data=form)
    assert status == 200 and body["result"]["reply_markup"] == keyboard

    multipart = aiohttp.FormData(form)
    multipart.add_field("thumbnail", b"\x89PNG", filename="t.png", content_type="image/png")
    status, body = await _raw(api, "sendMessage", data=multipart)
    assert status == 200 and body["result"]["message_id"] == 3

    status, body = await _raw(
        api, "sendMessage", http="GET", params={"chat_id": ALICE.id, "text": "q", "junk": "x"}
    )
    assert status == 200 and body["result"]["text"] == "q"

    sent = api.calls_to("sendMessage")
    assert [p["text"] for p in sent] == ["100", "42", "42", "q"]
    assert sent[1]["chat_id"] == ALICE.id and sent[1]["reply_markup"] == keyboard
    assert [m["message_id"] for m in api.messages_to(ALICE.id)] == [1, 2, 3, 4]

    status, body = await _raw(api, "sendMessage", json={"chat_id": 999, "text": "hi"})
    assert (status, body["description"]) == (400, "Bad Request: chat not found")


# ------------------------------------------------------------------------ python-telegram-bot


async def test_ptb_messages_keyboards_edits_and_updates(api: FakeBotApi, ptb: telegram.Bot) -> None:
    me = await ptb.get_me()
    assert me.username == "wallet_test_bot" and me.is_bot and me.can_join_groups

    first = api.send_text(ALICE, "/start ref_42")
    updates = await ptb.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [first]
    message = updates[0].message
    assert message is not None and message.text == "/start ref_42"
    assert message.from_user is not None and message.from_user.language_code == "zh-hans"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6

    markup = InlineKeyboardMarkup([[InlineKeyboardButton("English", callback_data="lang:en")]])
    sent = await ptb.send_message(
        ALICE.id, "<b>选择语言</b>", parse_mode="HTML", reply_markup=markup
    )
    assert sent.text == "选择语言" and sent.entities[0].type == "bold"
    assert sent.reply_markup == markup and sent.from_user is not None and sent.from_user.is_bot
    assert sent.chat.type == "private" and sent.chat.first_name == "小明"

    press = api.press_button(ALICE, api.messages_to(ALICE.id)[-1], "lang:en")
    updates = await ptb.get_updates(offset=first + 1, timeout=1)
    assert [u.update_id for u in updates] == [press]
    query = updates[0].callback_query
    assert query is not None and query.data == "lang:en" and query.chat_instance
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer("saved")
    assert api.callback_answers[-1]["text"] == "saved"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()

    edited = await ptb.edit_message_text("Language: English", ALICE.id, sent.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.text == "Language: English" and edited.reply_markup is None  # keyboard dropped
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await ptb.edit_message_text("Language: English", ALICE.id, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await ptb.edit_message_text("x", ALICE.id, 9999)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
        await ptb.send_message(ALICE.id, "1 < 2", parse_mode="HTML")
    assert [e["method"] for e in api.edits] == ["editMessageText"]
    assert api.messages_to(ALICE.id)[-1]["text"] == "Language: English"

    reply = await ptb.send_message(ALICE.id, "reply", reply_to_message_id=message.message_id)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "/start ref_42"
    assert await ptb.delete_message(ALICE.id, reply.message_id)
    assert await ptb.send_chat_action(ALICE.id, "typing")
    assert await ptb.get_updates(offset=press + 1) == ()
    assert api.pending_updates == []


async def test_ptb_long_poll_times_out_empty_and_wakes_up_on_update(
    api: FakeBotApi, ptb: telegram.Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await ptb.get_updates(timeout=timedelta(seconds=0.2)) == ()
    assert 0.15 <= loop.time() - started < 1.5

    poll = asyncio.create_task(ptb.get_updates(timeout=5))
    await api.wait_for_call("getUpdates", after=api.mark())
    started = loop.time()
    api.send_text(BOB, "hello")
    updates = await poll
    assert loop.time() - started < 1.0
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_ptb_conflict_while_webhook_set_and_invalid_token(
    api: FakeBotApi, ptb: telegram.Bot
) -> None:
    assert await ptb.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cret")
    with pytest.raises(Conflict, match="webhook is active"):
        await ptb.get_updates()
    info = await ptb.get_webhook_info()
    assert info.url == "http://127.0.0.1:9/hook" and info.pending_update_count == 0
    assert await ptb.delete_webhook()
    assert await ptb.get_updates() == ()
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with telegram.Bot("123456:WRONG", base_url=f"{api.base_url}/bot"):
            pass  # entering calls getMe, which the server refuses


async def test_ptb_invoice_and_payment_flow(api: FakeBotApi, ptb: telegram.Bot) -> None:
    api.add_user(BOB)
    invoice = await ptb.send_invoice(
        BOB.id,
        title="Recharge 50",
        description="Top up your wallet",
        payload="order-123",
        currency="CNY",
        prices=[LabeledPrice("Recharge", 5000)],
        provider_token="TEST:provider",
        start_parameter="recharge",
    )
    assert invoice.invoice is not None and invoice.invoice.total_amount == 5000
    assert invoice.invoice.start_parameter == "recharge" and invoice.invoice.currency == "CNY"

    async def bot_side() -> None:
        [update] = await ptb.get_updates(timeout=2)
        query = update.pre_checkout_query
        assert query is not None and query.invoice_payload == "order-123"
        await query.answer(ok=True)
        updates = await ptb.get_updates(offset=update.update_id + 1, timeout=2)
        payment = updates[0].message.successful_payment if updates[0].message else None
        assert payment is not None and payment.total_amount == 5000
        assert payment.telegram_payment_charge_id and payment.invoice_payload == "order-123"

    task = asyncio.create_task(bot_side())
    assert await api.pay_invoice(BOB, api.messages_to(BOB.id)[-1])
    await task
    assert api.pre_checkout_answers[-1]["ok"] is True


# ----------------------------------------------------------------------------------- aiogram


async def test_aiogram_messages_keyboards_edits_and_updates(
    api: FakeBotApi, aio: AiogramBot
) -> None:
    me = await aio.get_me()
    assert me.username == "wallet_test_bot" and me.can_join_groups is True

    keyboard = AiogramKeyboard(
        inline_keyboard=[[AiogramButton(text="Recharge", callback_data="recharge:50")]]
    )
    api.add_user(BOB)
    sent = await aio.send_message(
        BOB.id, "Hello *Bob*\\!", parse_mode="MarkdownV2", reply_markup=keyboard
    )
    assert sent.text == "Hello Bob!" and sent.entities and sent.entities[0].type == "bold"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump(exclude_none=True) == keyboard.model_dump(exclude_none=True)
    assert api.calls_to("sendMessage")[-1]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Recharge", "callback_data": "recharge:50"}]]
    }
    with pytest.raises(TelegramBadRequest, match="reserved and must be escaped"):
        await aio.send_message(BOB.id, "1.5", parse_mode="MarkdownV2")

    text_update = api.send_text(BOB, "hi")
    press_update = api.press_button(BOB, api.messages_to(BOB.id)[0], text="Recharge")
    updates = await aio.get_updates(timeout=1, allowed_updates=["message", "callback_query"])
    assert [u.update_id for u in updates] == [text_update, press_update]
    assert updates[0].message is not None and updates[0].message.text == "hi"
    query = updates[1].callback_query
    assert query is not None and query.data == "recharge:50"
    assert isinstance(query.message, AiogramMessage)
    assert query.message.message_id == sent.message_id
    assert await aio.answer_callback_query(query.id, text="ok", show_alert=True)
    assert api.callback_answers[-1]["show_alert"] is True
    assert api.unanswered_callback_queries() == []

    edited = await aio.edit_message_text(
        text="Hello Bob", chat_id=BOB.id, message_id=sent.message_id, reply_markup=keyboard
    )
    assert isinstance(edited, AiogramMessage) and edited.reply_markup is not None
    assert edited.reply_markup.inline_keyboard[0][0].callback_data == "recharge:50"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await aio.edit_message_reply_markup(
            chat_id=BOB.id, message_id=sent.message_id, reply_markup=keyboard
        )
    removed = await aio.edit_message_reply_markup(chat_id=BOB.id, message_id=sent.message_id)
    assert isinstance(removed, AiogramMessage) and removed.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await aio.edit_message_text(text="x", chat_id=BOB.id, message_id=777)

    assert await aio.get_updates(offset=press_update + 1) == []
    assert api.calls_to("getUpdates")[0]["allowed_updates"] == ["message", "callback_query"]


async def test_aiogram_commands_and_contact(api: FakeBotApi, aio: AiogramBot) -> None:
    from aiogram.types import BotCommand

    await aio.set_my_commands([BotCommand(command="start", description="Start")])
    await aio.set_my_commands([BotCommand(command="start", description="开始")], language_code="zh")
    assert [c.command for c in await aio.get_my_commands()] == ["start"]
    assert (await aio.get_my_commands(language_code="zh"))[0].description == "开始"
    assert api.commands(language_code="zh") == [{"command": "start", "description": "开始"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await aio.set_my_commands([BotCommand(command="Bad Command", description="x")])
    assert await aio.delete_my_commands()
    assert await aio.get_my_commands() == []

    api.share_contact(ALICE, "+8613800138000")
    [update] = await aio.get_updates()
    assert update.message is not None and update.message.contact is not None
    assert update.message.contact.phone_number == "+8613800138000"
    assert update.message.contact.user_id == ALICE.id


async def test_aiogram_conflict_block_and_injected_failure(
    api: FakeBotApi, aio: AiogramBot
) -> None:
    api.add_user(ALICE)
    api.block_user(ALICE.id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await aio.send_message(ALICE.id, "promo")
    [update] = await aio.get_updates()
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    api.send_text(ALICE, "/start")  # talking to the bot again unblocks it
    assert (await aio.send_message(ALICE.id, "welcome back")).text == "welcome back"

    api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await aio.send_message(ALICE.id, "x")
    assert (await aio.send_message(ALICE.id, "y")).text == "y"

    assert await aio.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await aio.get_updates()


# ----------------------------------------------------------------------------------- webhooks


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that checks the secret token like the libraries do."""

    secret: str
    received: list[tuple[str | None, JSONDict]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.received.append((header, await request.json()))
        if header != self.secret:
            return web.Response(status=403, text="Forbidden")
        return web.json_response({})


async def _serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def test_webhook_delivers_with_secret_and_records_refusals(
    api: FakeBotApi, ptb: telegram.Bot
) -> None:
    receiver = Receiver(secret="right-secret")
    runner, url = await _serve(receiver.handle)
    try:
        assert await ptb.set_webhook(url, secret_token="right-secret")
        update_id = api.send_text(ALICE, "/start")
        await api.wait_for(lambda: api.webhook_deliveries)
        assert receiver.received == [("right-secret", api.update(update_id))]
        assert [(d.update_id, d.status, d.attempt) for d in api.webhook_deliveries] == [
            (update_id, 200, 1)
        ]
        await api.wait_until_consumed()

        assert await ptb.set_webhook(url, secret_token="wrong-secret")
        refused = api.send_text(ALICE, "hello?")
        await api.wait_for(lambda: api.webhook_failed_updates)
        statuses = [(d.update_id, d.status) for d in api.webhook_deliveries[1:]]
        assert statuses == [(refused, 403)] * api.webhook_attempts
        info = await ptb.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
        assert info.url == url
    finally:
        await runner.cleanup()


async def test_webhook_reply_method_from_aiogram_dispatcher(
    api: FakeBotApi, aio: AiogramBot
) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: AiogramMessage) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    handler = SimpleRequestHandler(dispatcher, aio, secret_token="tok", handle_in_background=False)
    runner, url = await _serve(handler.handle)
    try:
        await aio.set_webhook(url, secret_token="tok")
        api.send_text(BOB, "ping")
        [reply] = await api.wait_for_message(BOB.id)
        assert reply["text"] == "echo: ping" and reply["from"]["username"] == "wallet_test_bot"
        assert api.webhook_deliveries[-1].status == 200
        await aio.delete_webhook()
        assert api.webhook_url is None
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------------- limits


@dataclass
class ManualClock:
    now: float = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_limits_answer_429_with_retry_after() -> None:
    clock = ManualClock()
    async with FakeBotApi(enforce_limits=True, clock=clock) as api:
        users = [FakeUser(id=5000 + i, first_name=f"U{i}") for i in range(31)]
        for user in users:
            api.add_user(user)
        async with telegram.Bot(api.token, base_url=f"{api.base_url}/bot") as bot:
            await bot.send_message(users[0].id, "one")
            with pytest.raises(RetryAfter, match="Retry in"):
                await bot.send_message(users[0].id, "two")
            assert api.errors[-1].description == "Too Many Requests: retry after 1"
            clock.now += 1.0
            await bot.send_message(users[0].id, "two")

            clock.now += 1.0
            for user in users[:30]:
                await bot.send_message(user.id, "broadcast")
            with pytest.raises(RetryAfter):
                await bot.send_message(users[30].id, "broadcast")

        session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
        aio = AiogramBot(api.token, session=session)
        try:
            with pytest.raises(TelegramRetryAfter) as caught:
                await aio.send_message(users[30].id, "broadcast")
            assert caught.value.retry_after == 1
        finally:
            await aio.session.close()
        assert api.too_many_requests == 3
        assert len(api.messages_to(users[0].id)) == 3


# ------------------------------------------------------------------------- groups and waits


async def test_staff_group_topics_replies_and_privacy_mode(
    api: FakeBotApi, ptb: telegram.Bot
) -> None:
    staff = FakeGroup(id=-1001234567890, title="Staff", is_forum=True)
    api.add_group(staff)
    topic = await ptb.create_forum_topic(staff.id, "Order 42")
    posted = await ptb.send_message(
        staff.id, "New order", message_thread_id=topic.message_thread_id
    )
    assert posted.is_topic_message and posted.message_thread_id == topic.message_thread_id

    ignored = api.send_text(
        STAFF, "chatting among ourselves", chat=staff.id, message_thread_id=None
    )
    reply = api.send_reply(STAFF, staff.id, api.messages_to(staff.id)[-1], "Done, refunded")
    updates = await ptb.get_updates()
    assert [u.update_id for u in updates] == [reply]
    assert ignored in [u["update_id"] for u in api.filtered_updates]
    message = updates[0].message
    assert message is not None and message.chat.id == staff.id
    assert message.is_topic_message and message.message_thread_id == topic.message_thread_id
    assert message.reply_to_message is not None
    assert message.reply_to_message.message_id == posted.message_id


async def test_ptb_sees_blocked_users_and_injected_errors(
    api: FakeBotApi, ptb: telegram.Bot
) -> None:
    api.add_user(ALICE)
    api.block_user(ALICE.id, notify=False)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await ptb.send_message(ALICE.id, "x")
    api.unblock_user(ALICE.id, notify=False)
    api.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await ptb.send_message(ALICE.id, "x")
    assert (await ptb.send_message(ALICE.id, "x")).text == "x"
    assert api.pending_updates == []  # no my_chat_member without notify


async def test_wait_for_message_counts_from_the_last_action(
    api: FakeBotApi, ptb: telegram.Bot
) -> None:
    api.add_user(ALICE)
    await ptb.send_message(ALICE.id, "old")

    async def bot_answers() -> None:
        [update] = await ptb.get_updates(timeout=2)
        assert update.message is not None
        await ptb.send_message(ALICE.id, "first")
        await ptb.send_message(ALICE.id, "second")

    task = asyncio.create_task(bot_answers())
    api.send_text(ALICE, "go")
    messages = await api.wait_for_message(ALICE.id, count=2, timeout=3)
    await task
    assert [m["text"] for m in messages] == ["first", "second"]
    with pytest.raises(TimeoutError, match="bot message"):
        await api.wait_for_message(ALICE.id, count=3, timeout=0.05)
    mark = api.mark()
    await ptb.send_message(ALICE.id, "third")
    assert [m["text"] for m in await api.wait_for_message(ALICE.id, after=mark)] == ["third"]
    call = await api.wait_for_call("sendMessage", after=mark)
    assert call.params["text"] == "third"


# ------------------------------------------------------------------- whole framework polling


async def test_ptb_application_polls_handles_and_stops_quickly(api: FakeBotApi) -> None:
    from telegram import Update
    from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("中文", callback_data="lang:zh")]])
        await update.effective_message.reply_text("Choose", reply_markup=keyboard, do_quote=True)

    async def chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"Chosen {query.data}")

    application = Application.builder().token(api.token).base_url(f"{api.base_url}/bot").build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(chosen))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            api.send_text(ALICE, "/start")
            [menu] = await api.wait_for_message(ALICE.id)
            assert menu["reply_to_message"]["text"] == "/start"
            press = api.press_button(ALICE, menu, text="中文")
            edited = await api.wait_for_edit(ALICE.id)
            assert edited["text"] == "Chosen lang:zh" and "reply_markup" not in edited
            await api.wait_for_callback_answer(press)
        finally:
            await application.updater.stop()
            await application.stop()
    assert api.calls_to("deleteWebhook"), "PTB deletes any webhook before polling"
    assert api.errors == []  # the long poll abandoned at stop is not an error anyone saw


async def test_aiogram_dispatcher_polls_handles_and_stops_quickly(api: FakeBotApi) -> None:
    from aiogram import F
    from aiogram.filters import CommandStart
    from aiogram.types import CallbackQuery

    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: AiogramMessage) -> None:
        keyboard = AiogramKeyboard(
            inline_keyboard=[[AiogramButton(text="English", callback_data="lang:en")]]
        )
        await message.answer("Choose", reply_markup=keyboard)

    @dispatcher.callback_query(F.data.startswith("lang:"))
    async def chosen(query: CallbackQuery) -> None:
        await query.answer("ok")
        assert isinstance(query.message, AiogramMessage)
        await query.message.edit_text(f"Chosen {query.data}")

    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    bot = AiogramBot(api.token, session=session)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False)
    )
    try:
        api.send_text(BOB, "/start")
        [menu] = await api.wait_for_message(BOB.id)
        press = api.press_button(BOB, menu, "lang:en")
        assert (await api.wait_for_callback_answer(press))["text"] == "ok"
        assert (await api.wait_for_edit(BOB.id))["text"] == "Chosen lang:en"
    finally:
        await dispatcher.stop_polling()
        await polling
    assert api.errors == []


async def test_offsets_limits_reply_keyboards_and_impossible_presses(
    api: FakeBotApi, ptb: telegram.Bot
) -> None:
    from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove

    ids = [api.send_text(ALICE, f"m{i}") for i in range(5)]
    assert [u.update_id for u in await ptb.get_updates(limit=2)] == ids[:2]
    assert [u.update_id for u in await ptb.get_updates(offset=ids[1] + 1, limit=2)] == ids[2:4]
    assert [u.update_id for u in await ptb.get_updates(offset=-1)] == ids[4:]  # drops the rest
    assert [u["update_id"] for u in api.pending_updates] == ids[4:]
    await ptb.get_updates(offset=ids[4] + 1)

    share = ReplyKeyboardMarkup([[KeyboardButton("Share phone", request_contact=True)]])
    sent = await ptb.send_message(ALICE.id, "Your phone?", reply_markup=share)
    assert sent.reply_markup is None  # Telegram echoes only inline keyboards
    assert api.reply_keyboard(ALICE.id) == share.to_dict()
    contact = api.press_keyboard_button(ALICE, "Share phone")
    [update] = await ptb.get_updates()
    assert update.update_id == contact and update.message is not None
    assert update.message.contact is not None and update.message.contact.user_id == ALICE.id
    await ptb.send_message(ALICE.id, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert api.reply_keyboard(ALICE.id) is None

    with pytest.raises(LookupError, match="no button"):
        api.press_button(ALICE, api.messages_to(ALICE.id)[-1], "not-there")
    assert await ptb.delete_message(ALICE.id, sent.message_id)
    with pytest.raises(LookupError, match="does not exist"):
        api.press_button(ALICE, sent.to_dict(), "x")
