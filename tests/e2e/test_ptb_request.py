"""python-telegram-bot's Bot API calls on aiohttp's client (`bot.ptb.aiohttp_request`), over
real HTTP: what reaches the Bot API server, and how a slow or absent server is told to PTB."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from pydantic import SecretStr
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.ptb.aiohttp_request import AiohttpRequest
from bot.ptb.frontend import application_builder
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser

ALICE = FakeUser(id=5101, first_name="Alice", language_code="zh-hans")


def ptb_bot(api: FakeBotApi, request: AiohttpRequest) -> Bot:
    return Bot(api.token, base_url=f"{api.base_url}/bot", request=request)


async def test_messages_keyboards_and_files_reach_the_server_as_ptb_sends_them(
    api: FakeBotApi,
) -> None:
    api.send_text(ALICE, "/start")  # the server knows the chat
    async with ptb_bot(api, AiohttpRequest()) as bot:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("充值 50元", callback_data="r:50")]])
        sent = await bot.send_message(ALICE.id, "请选择金额", reply_markup=keyboard)
        document = await bot.send_document(
            ALICE.id, b"order,amount\n1,50\n", filename="orders.csv", caption="订单"
        )
    assert sent.text == "请选择金额" and sent.chat.id == ALICE.id
    assert sent.reply_markup == keyboard  # the server's answer, parsed back by PTB
    [message_call] = api.calls_to("sendMessage")
    assert message_call["reply_markup"] == {
        "inline_keyboard": [[{"text": "充值 50元", "callback_data": "r:50"}]]
    }
    uploaded = api.documents[(ALICE.id, document.message_id)]
    assert (uploaded.filename, uploaded.data) == ("orders.csv", b"order,amount\n1,50\n")
    assert document.caption == "订单"


async def test_the_servers_refusal_is_ptbs_own_error(api: FakeBotApi) -> None:
    async with ptb_bot(api, AiohttpRequest()) as bot:
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(987654321, "nobody is there")


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A Bot API address that answers getMe at once and anything else only after 5 s (or
    when the test is over)."""
    over = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        method = request.path.rsplit("/", 1)[-1]
        if method != "getMe":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(over.wait(), 5)
        me = {"id": 1, "is_bot": True, "first_name": "Bot", "username": "bot"}
        return web.json_response({"ok": True, "result": me})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        over.set()
        await runner.cleanup()


async def test_a_server_that_does_not_answer_in_time_is_a_timeout(silent_server: str) -> None:
    request = AiohttpRequest(read_timeout=0.3)
    async with Bot("1:token", base_url=silent_server, request=request) as bot:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(1, "hello")
        assert time.monotonic() - started < 3  # the read timeout, not the server's 5 s
    patient = AiohttpRequest()  # 5 s by default; a call's own read timeout is kept
    await patient.initialize()
    try:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await patient.post(f"{silent_server}1:token/sendMessage", read_timeout=0.2)
        assert time.monotonic() - started < 3
    finally:
        await patient.shutdown()


async def test_a_server_that_is_not_there_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{port}/bot1:token/getMe")
        assert not isinstance(raised.value, TimedOut)
    finally:
        await request.shutdown()


async def test_it_sends_before_initialize_and_again_after_initialize_follows_shutdown(
    api: FakeBotApi,
) -> None:
    """As PTB's own request: usable from the start (a bot never initialised still sends),
    refused once shut down, usable again once initialised again."""
    request = AiohttpRequest()
    url = f"{api.base_url}/bot{api.token}/getMe"
    try:
        me = await request.post(url)
        assert isinstance(me, dict) and (me["id"], me["is_bot"]) == (api.bot_id, True)
        await request.shutdown()
        with pytest.raises(NetworkError, match="not initialized"):
            await request.post(url)
        await request.initialize()
        assert await request.post(url) == me
    finally:
        await request.shutdown()


def test_the_ptb_front_end_makes_its_calls_on_it() -> None:
    settings = make_settings("sqlite+aiosqlite://", bot_token=SecretStr("1:token"))
    application = application_builder(settings).build()
    assert isinstance(application.bot.request, AiohttpRequest)
