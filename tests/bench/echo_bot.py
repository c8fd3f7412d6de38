"""The frameworks' own echo bot as a real webhook process, for the load test to measure beside
the bot over the same path (nginx, the webhook, the fake Bot API server over HTTP).

    BOT_TOKEN=... TELEGRAM_API_URL=http://127.0.0.1:PORT WEBHOOK_SECRET=... \\
        WEBHOOK_LISTEN=127.0.0.1:8080 python tests/bench/echo_bot.py aiogram|ptb|ptb-aiohttp

Each text message is answered with its own text (an API call, as the bot answers); the POST is
answered once that is done, as the bot's webhook does. GET /readyz answers 200 once serving.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/tg/hook"


def settings() -> tuple[str, str, str, str, int]:
    host, port = os.environ["WEBHOOK_LISTEN"].rsplit(":", 1)
    return (
        os.environ["BOT_TOKEN"],
        os.environ["TELEGRAM_API_URL"],
        os.environ["WEBHOOK_SECRET"],
        host,
        int(port),
    )


async def serve(secret: str, host: str, port: int, feed: Callable[[Any], Awaitable[None]]) -> None:
    async def hook(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            return web.Response(status=403)
        await feed(await request.json())
        return web.Response()

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_post(PATH, hook)
    app.router.add_get("/readyz", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()
    await runner.cleanup()


async def aiogram_echo() -> None:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message, Update

    token, api_url, secret, host, port = settings()
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    dispatcher = Dispatcher()
    dispatcher.include_router(router)

    async def feed(data: Any) -> None:
        await dispatcher.feed_webhook_update(bot, Update.model_validate(data, context={"bot": bot}))

    try:
        await serve(secret, host, port, feed)
    finally:
        await bot.session.close()


async def ptb_echo(on_aiohttp: bool = False) -> None:
    """PTB's echo on its own HTTP client (httpx), or with `on_aiohttp` on the one the bot's PTB
    front end uses (`bot.ptb.aiohttp_request`), to tell the client's share apart."""
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    from bot.ptb.aiohttp_request import AiohttpRequest

    token, api_url, secret, host, port = settings()
    builder = Application.builder().token(token).base_url(f"{api_url}/bot").updater(None)
    if on_aiohttp:
        builder = builder.request(AiohttpRequest())
    application = builder.build()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None:
            await message.reply_text(message.text or "?")

    application.add_handler(MessageHandler(filters.TEXT, echo))

    async def feed(data: Any) -> None:
        await application.process_update(Update.de_json(data, application.bot))

    async with application:
        await serve(secret, host, port, feed)


if __name__ == "__main__":
    framework = sys.argv[1]
    asyncio.run(aiogram_echo() if framework == "aiogram" else ptb_echo(framework == "ptb-aiohttp"))
