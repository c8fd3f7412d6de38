"""python-telegram-bot wiring: the Application, per-chat ordering, polling or webhook, running.

Conversation state lives in the database (the router loads and saves it), so there is no
ConversationHandler and no PTB persistence: one TypeHandler hands every update to the adapter.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    TypeHandler,
)
from telegram.request import BaseRequest

from bot.assembly import App, shared_chat_turns, until_stop_signal
from bot.delivery import REPLY_DEADLINE_SECONDS
from bot.ptb.aiohttp_request import AiohttpRequest
from bot.ptb.events import event_from_update
from bot.ptb.replies import Sender
from bot.settings import Settings
from bot.webhook import Refused, WebhookServer
from domain.errors import DatabaseBusy
from domain.persistence.health import database_answers, schema_current
from handlers.chat_queues import DEFAULT_LIMIT as DEFAULT_CHAT_LIMIT
from handlers.chat_queues import ChatQueues, SharedTurns, ask_again
from handlers.commands import command_menus
from handlers.contract import Incoming, Outcome
from handlers.outage import detail, refusal_cause

log = logging.getLogger(__name__)

PtbApplication = Application[Any, Any, Any, Any, Any, Any]

ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY, Update.PRE_CHECKOUT_QUERY)
# Updates handled at once. Kept near the database's connection pool: a burst then waits here
# (no time limit) rather than for a connection (30 s, then the turn fails).
MAX_RUNNING_UPDATES = 32
# Updates PTB may hand over before they start: only a bound against unbounded growth.
MAX_PENDING_UPDATES = 4096
POLL_TIMEOUT = timedelta(seconds=10)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Many chats at once; within one chat, updates one after another in arrival order.

    Two quick messages of one customer ("/bind", then the number) must see each other's state.
    An update first waits for its chat's turn, then for one of `max_running` slots, so a chat
    that floods the bot occupies one slot, not all of them; and a chat holds at most
    `chat_limit` updates: more are dropped at once (the first drop of a flood asks the customer
    to slow down through `on_flood`), so they never fill the `max_pending` places either.
    With `shared` turns a chat's updates are one at a time across processes too, and an update
    already worked (by any process) is skipped.
    """

    def __init__(
        self,
        max_running: int = MAX_RUNNING_UPDATES,
        max_pending: int = MAX_PENDING_UPDATES,
        *,
        chat_limit: int = DEFAULT_CHAT_LIMIT,
        shared: SharedTurns | None = None,
    ) -> None:
        super().__init__(max_pending)
        self._running = asyncio.Semaphore(max_running)
        self.queues = ChatQueues(chat_limit, shared=shared)
        # Asks a flooding chat (id, the customer's Telegram language) to slow down, once.
        self.on_flood: FloodNotice | None = None
        # Tells a customer whose update found no database connection free to try again; with
        # `redeliver` (webhook mode) the update then fails so that Telegram delivers it again.
        self.on_busy: FloodNotice | None = None
        self.redeliver = False

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_key(update)
        if key is None:
            async with self._running:
                await coroutine
            return
        admission = self.queues.admit(key, always=_carries_a_payment(update))
        if not admission.taken:
            _discard(coroutine)
            if admission.tell and self.on_flood is not None:
                await self.on_flood(key, _language_code(update))
            return
        update_id = update.update_id if isinstance(update, Update) else None
        try:
            async with self.queues.turn(admission, update_id) as fresh:
                if not fresh:
                    log.info("update %s was handled before: not again", update_id)
                    return
                async with self._running:
                    await coroutine
        except DatabaseBusy:
            log.warning("update %s found no database connection free", update_id)
            if self.on_busy is not None:
                await self.on_busy(key, _language_code(update))
            if self.redeliver:
                raise
        finally:
            _discard(coroutine)  # not started (skipped, or no turn): never will be
            self.queues.leave(admission)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


FloodNotice = Callable[[int, str | None], Awaitable[object]]


def _discard(coroutine: Awaitable[Any]) -> None:
    """A dropped update's handling is never started."""
    if inspect.iscoroutine(coroutine):
        coroutine.close()


def _carries_a_payment(update: object) -> bool:
    """A payment question or a successful payment: never dropped, whatever the chat sent."""
    if not isinstance(update, Update):
        return False
    message = update.message
    return update.pre_checkout_query is not None or (
        message is not None and message.successful_payment is not None
    )


def _language_code(update: object) -> str | None:
    user = update.effective_user if isinstance(update, Update) else None
    return user.language_code if user is not None else None


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


def application_builder(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    shared: SharedTurns | None = None,
) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """PTB's builder pointed at TELEGRAM_API_URL, serving many chats at once (one at a time in
    each chat, across processes too with `shared` turns)."""
    if not settings.token:
        raise ValueError("the python-telegram-bot front end needs BOT_TOKEN")
    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .concurrent_updates(
            ChatOrderedProcessor(chat_limit=settings.chat_queue_limit, shared=shared)
        )
    )
    # The Bot API calls on aiohttp's client (`bot.ptb.aiohttp_request`), unless given others;
    # getUpdates on a client of its own with one connection, as PTB's own default.
    builder = builder.request(request if request is not None else AiohttpRequest())
    return builder.get_updates_request(
        get_updates_request
        if get_updates_request is not None
        else AiohttpRequest(connection_pool_size=1)
    )


def build_ptb_application(
    app: App,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> PtbApplication:
    """A new PTB Application whose every update goes through the conversation router."""
    application = application_builder(
        app.settings, request=request, get_updates_request=get_updates_request
    ).build()
    serve_conversation(
        application,
        app.conversation,
        provider_token=_provider_token(app.settings),
        reply_deadline=app.settings.reply_deadline_seconds,
    )
    return application


def serve_conversation(
    application: PtbApplication,
    conversation: Conversation,
    *,
    provider_token: str | None = None,
    reply_deadline: float = REPLY_DEADLINE_SECONDS,
) -> Sender:
    """Hand every update of `application` to `conversation`; the Sender that answers them."""
    sender = Sender(application.bot, provider_token=provider_token, reply_deadline=reply_deadline)
    processor = application.update_processor
    if isinstance(processor, ChatOrderedProcessor):
        processor.on_flood = sender.slow_down
        processor.on_busy = sender.busy
    application.add_handler(TypeHandler(Update, ConversationCallback(conversation, sender)))
    application.add_error_handler(_log_error)
    return sender


def _provider_token(settings: Settings) -> str | None:
    token = settings.payment_provider_token
    return token.get_secret_value() if token is not None else None


class Conversation(Protocol):
    """What the adapter needs of the conversation (the router, or a stand-in in a benchmark)."""

    async def handle(self, event: Incoming) -> Outcome: ...


class ConversationCallback:
    """The one PTB handler callback: update → neutral event → router → Bot API calls."""

    def __init__(self, conversation: Conversation, sender: Sender) -> None:
        self._conversation = conversation
        self._sender = sender

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        event = event_from_update(update, context.bot.username)
        if event is None:
            log.debug("update %s ignored", update.update_id)
            return
        try:
            outcome = await self._conversation.handle(event)
        except DatabaseBusy:
            # Nothing was done: the turn ends busy (the customer is asked to try again, and the
            # update is delivered again in webhook mode).
            if event.callback_id is not None:
                await self._sender.answer_button(event.callback_id, None)
            ask_again()
            return
        except Exception:
            # The router answers its own failures; this is one it could not (no database?).
            # A press is still answered; a payment question is not, so Telegram refuses it.
            log.exception("the conversation failed on a %s event", event.kind)
            if event.callback_id is not None:
                await self._sender.answer_button(event.callback_id, None)
            return
        await self._sender.deliver(event, outcome)


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's error handler: a fault with its traceback; the database away, one line."""
    update_id = update.update_id if isinstance(update, Update) else None
    error = context.error
    cause = refusal_cause(error) if error is not None else None
    if error is None or cause is None:
        log.error("processing update %s failed", update_id, exc_info=error)
        return
    log.warning(
        "update %s of chat %s failed: %s (%s)", update_id, _chat_key(update), cause, detail(error)
    )
    log.debug("processing update %s failed", update_id, exc_info=error)


class PtbFrontend:
    """The bot served by python-telegram-bot: long polling, or a webhook when WEBHOOK_URL is set.

    `await start()` returns once updates are being received, and attaches the bot to the app's
    outbound port; `await stop()` detaches it, stops receiving, finishes the updates already
    received and closes PTB's HTTP clients. The App (database) is the caller's to close.
    """

    def __init__(
        self,
        app: App,
        *,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
        poll_timeout: timedelta = POLL_TIMEOUT,
    ) -> None:
        self.settings = app.settings
        self._app = app
        self.application = application_builder(
            app.settings,
            request=request,
            get_updates_request=get_updates_request,
            shared=shared_chat_turns(app),
        ).build()
        self.sender = serve_conversation(
            self.application,
            app.conversation,
            provider_token=_provider_token(app.settings),
            reply_deadline=app.settings.reply_deadline_seconds,
        )
        self.sender.unasked_limiter = app.outbound_limiter
        self.sender.observed = app.metrics
        processor = self.application.update_processor
        if isinstance(processor, ChatOrderedProcessor):
            processor.redeliver = self.webhook_mode
        self._poll_timeout = poll_timeout
        self._server: WebhookServer | None = None

    @property
    def webhook_mode(self) -> bool:
        return self.settings.webhook_url is not None

    async def start(self) -> None:
        try:
            await self.application.initialize()  # getMe: a wrong token fails here
            self._app.conversation.bot_username = (
                self._app.conversation.bot_username or self.application.bot.username
            )
            broadcasts = self._app.services.broadcasts
            broadcasts.bot_username = broadcasts.bot_username or self.application.bot.username
            await self._set_command_menus()
            await self._start_receiving()
            await self.application.start()
            if self._server is not None:
                self._server.serving = True  # /readyz: updates are taken in
        except BaseException:
            await self.stop()
            raise
        # Messages nobody just asked for (the scheduler's sweeps) go out through this bot now.
        self._app.outbound.attach(self.sender)

    async def _set_command_menus(self) -> None:
        """Telegram's command menu: the customer's per language, the staff's in staff chats.
        A refusal is logged; the bot works without a menu."""
        staff = await self._app.services.staff.members()
        for menu in command_menus(self._app.conversation, staff):
            scope = None if menu.chat_id is None else BotCommandScopeChat(menu.chat_id)
            commands = [BotCommand(name, text) for name, text in menu.commands]
            try:
                await self.application.bot.set_my_commands(
                    commands, scope=scope, language_code=menu.language_code
                )
            except (TimeoutError, TelegramError, OSError) as error:
                log.warning("setMyCommands for %s failed: %s", menu.chat_id or "all chats", error)

    async def stop(self) -> None:
        self._app.outbound.detach()
        server, self._server = self._server, None
        if server is not None:
            # Requests under way are answered (their updates handled) before PTB stops.
            await server.close()
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def __aenter__(self) -> PtbFrontend:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _start_receiving(self) -> None:
        updater = self.application.updater
        if updater is None:
            raise RuntimeError("the PTB application was built without an updater")
        if not self.webhook_mode:
            # Bootstrapping deletes any webhook first, then long polling begins.
            await updater.start_polling(timeout=self._poll_timeout, allowed_updates=ALLOWED_UPDATES)
            log.info("polling %s for updates", self.settings.telegram_api_url)
            return
        await self._start_webhook()

    async def _start_webhook(self) -> None:
        """Updates posted to our own webhook server go into the application's update queue,
        through the same per-chat processor as polled ones."""
        settings = self.settings
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        if not secret or not settings.webhook_url:
            raise ValueError("webhook mode needs WEBHOOK_SECRET as well as WEBHOOK_URL")
        bot = self.application.bot

        def parse(data: dict[str, Any]) -> Update:
            update = Update.de_json(data, bot)
            if update is None:
                raise ValueError("not an update")
            return update

        application = self.application
        outage = self._app.conversation.outage

        async def feed(update: Update) -> None:
            # Answered once handled, so an update whose turn failed (ChatTurnBusy) or whose
            # worker died is delivered again by Telegram. A refused one costs one log line.
            try:
                await application.update_processor.process_update(
                    update, application.process_update(update)
                )
            except DatabaseBusy as busy:  # the processor logged this one already
                raise Refused(str(busy)) from busy
            except Exception as error:
                cause = outage.refused(error, update.update_id, _chat_key(update))
                if cause is None:
                    raise
                raise Refused(cause) from error

        self._server = WebhookServer(
            settings.webhook_path,
            secret,
            parse,
            feed,
            max_body_bytes=settings.webhook_max_body_bytes,
            database_check=partial(database_answers, self._app.engine),
            migrations_check=partial(schema_current, self._app.engine),
        )
        host, port = settings.webhook_host_port
        await self._server.start(host, port)
        await bot.set_webhook(
            settings.webhook_url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
        )
        log.info("listening for updates on %s:%s%s", host, port, settings.webhook_path)


async def run_ptb(app: App) -> None:
    """Serve the bot until cancelled or sent SIGINT/SIGTERM, then stop cleanly."""
    # httpx logs every request URL at INFO, and a Bot API URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    async with PtbFrontend(app):
        await until_stop_signal()
