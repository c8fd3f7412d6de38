"""The aiogram 3 front end: Telegram updates in, neutral events to the conversation, Bot API out.

This module only translates. A message (text, picture, shared contact, successful payment), a button
press or a pre-checkout query becomes one neutral `Incoming` event; the conversation answers
with an `Outcome`; the `Sender` turns it into Bot API calls (sendMessage, editMessageText,
sendInvoice) and always answers a press or a payment question. The same `Sender` is the app's
outbound port while the front end runs. No business rule and no user-facing text lives here.

Wiring follows aiogram's own style: one `Router` built by a factory, the conversation injected
into the handlers as dispatcher workflow data, no module-level bot or dispatcher. Polling is the
default; a webhook server runs instead when WEBHOOK_URL is set.

(This module is `bot.aiogram`; `import aiogram` inside it is absolute and finds the library.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import lru_cache, partial
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.dispatcher.middlewares.user_context import EVENT_CONTEXT_KEY, EventContext
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerPreCheckoutQuery,
    CreateForumTopic,
    DeleteMessage,
    DeleteWebhook,
    EditMessageText,
    GetMe,
    GetUpdates,
    SendDocument,
    SendInvoice,
    SendMessage,
    SendPhoto,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    BufferedInputFile,
    CallbackQuery,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
    User,
)

from bot.assembly import App, shared_chat_turns, until_stop_signal
from bot.delivery import (
    REPLY_DEADLINE_SECONDS,
    OutcomeSender,
    SharedLimiter,
    deadline_in,
    paid_broadcast,
    waited_out,
)
from bot.settings import Settings
from bot.webhook import Refused, WebhookServer
from domain.customers import TelegramProfile
from domain.errors import DatabaseBusy
from domain.observations import UNOBSERVED, Observations
from domain.persistence.health import database_answers, schema_current
from handlers.chat_queues import DEFAULT_LIMIT as DEFAULT_CHAT_LIMIT
from handlers.chat_queues import ChatQueues, SharedTurns, ask_again
from handlers.commands import command_menus
from handlers.contract import (
    Button,
    ContactKeyboard,
    Delivery,
    DeliveryStatus,
    Incoming,
    Invoice,
    RemoveKeyboard,
    Reply,
    button_event,
    contact_event,
    message_event,
    payment_event,
    photo_event,
    pre_checkout_event,
)
from handlers.outage import refusal_cause
from handlers.router import ConversationRouter

log = logging.getLogger(__name__)

T = TypeVar("T")
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

NOT_MODIFIED = "message is not modified"
# How long a stop waits for updates already being handled.
DRAIN_SECONDS = 10.0
# Keyboards are built once per distinct keyboard (a menu in one language, a customer's list of
# numbers) and shown again as they are; the least recently shown are forgotten beyond this many.
KEYBOARDS_KEPT = 1024

# aiogram reads every Bot API answer as pydantic's `Response[<the method's result>]`. pydantic
# keeps such a type only while something refers to it, so without these references every full
# garbage collection would drop them and the next answers would build their types again (a few
# milliseconds each).
ANSWER_TYPES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        AnswerCallbackQuery,
        AnswerPreCheckoutQuery,
        CreateForumTopic,
        DeleteWebhook,
        EditMessageText,
        GetMe,
        GetUpdates,
        SendInvoice,
        SendMessage,
        SetWebhook,
    )
)


# -- Telegram update -> neutral event ----------------------------------------------------------
def profile_of(user: User) -> TelegramProfile:
    return TelegramProfile(
        telegram_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


def message_to_event(message: Message) -> Incoming | None:
    """A typed text, a shared contact or a successful payment; None for anything else
    (photos, stickers, service messages) and for messages without a person behind them."""
    if message.from_user is None:
        return None
    user = profile_of(message.from_user)
    chat_id, chat_type = message.chat.id, message.chat.type
    if message.successful_payment is not None:
        paid = message.successful_payment
        return payment_event(
            user,
            chat_id,
            paid.invoice_payload,
            paid.currency,
            paid.total_amount,
            paid.telegram_payment_charge_id,
            paid.provider_payment_charge_id or None,
        )
    if message.contact is not None:
        return contact_event(
            user,
            chat_id,
            message.contact.phone_number,
            contact_user_id=message.contact.user_id,
            chat_type=chat_type,
            message_id=message.message_id,
        )
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return photo_event(
            user,
            chat_id,
            largest.file_id,
            message.caption or "",
            chat_type=chat_type,
            message_id=message.message_id,
        )
    if message.text is not None:
        replied = message.reply_to_message
        return message_event(
            user,
            chat_id,
            message.text,
            chat_type=chat_type,
            message_id=message.message_id,
            reply_to_message_id=replied.message_id if replied is not None else None,
            thread_id=message.message_thread_id if message.is_topic_message else None,
        )
    return None


def callback_to_event(query: CallbackQuery) -> Incoming | None:
    """A pressed inline button; None for a press without data (a game button)."""
    if query.data is None:
        return None
    message = query.message  # None under inline-mode messages; maybe an InaccessibleMessage
    return button_event(
        profile_of(query.from_user),
        message.chat.id if message is not None else query.from_user.id,
        query.data,
        callback_id=query.id,
        message_id=message.message_id if message is not None else None,
        chat_type=message.chat.type if message is not None else "private",
    )


def pre_checkout_to_event(query: PreCheckoutQuery) -> Incoming:
    return pre_checkout_event(
        profile_of(query.from_user),
        query.id,
        query.invoice_payload,
        query.currency,
        query.total_amount,
    )


def mentioned_bot(text: str) -> str | None:
    """ "other_bot" of `/cmd@other_bot args`; None for text or a command without a mention."""
    if not text.startswith("/"):
        return None
    _, at, mention = text.split(maxsplit=1)[0].partition("@")
    return mention.lower() if at else None


async def for_another_bot(bot: Bot, message: Message) -> bool:
    """`/cmd@other_bot` in a group is meant for another bot."""
    mention = mentioned_bot(message.text or "")
    if mention is None:
        return False
    username = (await bot.me()).username  # cached after the first call
    return username is not None and mention != username.lower()


# -- neutral answers -> Bot API calls ----------------------------------------------------------
def inline_button(button: Button) -> InlineKeyboardButton:
    if button.url is not None:
        return InlineKeyboardButton(text=button.text, url=button.url)
    return InlineKeyboardButton(text=button.text, callback_data=button.data)


def inline_markup(buttons: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """The inline keyboard of `buttons`; the same object each time the same buttons are shown,
    so it must not be changed."""
    if not buttons:
        return None
    return _inline_keyboard(buttons)


@lru_cache(maxsize=KEYBOARDS_KEPT)
def _inline_keyboard(buttons: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[inline_button(button) for button in row] for row in buttons]
    )


def reply_markup(reply: Reply) -> Markup | None:
    """The one markup of a new message (a Reply has a reply keyboard or inline buttons)."""
    if isinstance(reply.keyboard, ContactKeyboard):
        return _share_contact_keyboard(reply.keyboard.share_text)
    if isinstance(reply.keyboard, RemoveKeyboard):
        return REMOVE_KEYBOARD
    return inline_markup(reply.buttons)


@lru_cache(maxsize=16)
def _share_contact_keyboard(share_text: str) -> ReplyKeyboardMarkup:
    share = KeyboardButton(text=share_text, request_contact=True)
    return ReplyKeyboardMarkup(keyboard=[[share]], resize_keyboard=True, one_time_keyboard=True)


REMOVE_KEYBOARD = ReplyKeyboardRemove()


async def call(
    bot: Bot,
    method: TelegramMethod[T],
    deadline_seconds: float = REPLY_DEADLINE_SECONDS,
    observed: Observations = UNOBSERVED,
) -> T:
    """One Bot API call, made again after each flood-control pause (429) Telegram asks for,
    as long as the next try starts within `deadline_seconds`; each 429 told to `observed`."""
    deadline = deadline_in(deadline_seconds)
    while True:
        try:
            return await bot(method)
        except TelegramRetryAfter as error:
            observed.too_many_requests()
            if not await waited_out(float(error.retry_after), deadline):
                raise


def delivery_of(error: TelegramAPIError) -> Delivery:
    """What a failed Bot API call means for sending the message again."""
    if isinstance(error, TelegramRetryAfter):
        return Delivery(
            DeliveryStatus.RATE_LIMITED, retry_after=float(error.retry_after), reason=error.message
        )
    if isinstance(error, TelegramForbiddenError):
        return Delivery(DeliveryStatus.BLOCKED, reason=error.message)
    if isinstance(error, TelegramServerError | TelegramNetworkError):
        return Delivery(DeliveryStatus.RETRY, reason=error.message)
    return Delivery(DeliveryStatus.REJECTED, reason=error.message)


class Sender(OutcomeSender):
    """Shows the conversation's answers through one bot; also the outbound port's notifier.

    Sending never raises a Bot API error: a failed call is logged and the next one still tried,
    so one blocked chat or one network hiccup cannot stop the bot.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        provider_token: str | None = None,
        reply_deadline: float = REPLY_DEADLINE_SECONDS,
    ) -> None:
        self.bot = bot
        self._provider_token = provider_token
        self.reply_deadline = reply_deadline

    async def answer_button(self, callback_id: str, notice: str | None) -> None:
        answer = AnswerCallbackQuery(callback_query_id=callback_id, text=notice or None)
        await self._call(answer, "answering a button press")

    async def answer_pre_checkout(self, query_id: str | None, error: str | None) -> None:
        if query_id is None:
            return
        answer = AnswerPreCheckoutQuery(
            pre_checkout_query_id=query_id, ok=error is None, error_message=error
        )
        await self._call(answer, "answering a pre-checkout query")

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        """One new message (or invoice) in `chat_id`, tried once; what became of it."""
        method: SendInvoice | SendMessage | SendDocument | SendPhoto
        if reply.invoice is not None:
            method = self._invoice(chat_id, reply.invoice, reply.buttons, reply.thread_id)
        elif reply.document is not None:
            method = SendDocument(
                chat_id=chat_id,
                document=BufferedInputFile(
                    reply.document.content, filename=reply.document.filename
                ),
                caption=reply.text,
                reply_markup=inline_markup(reply.buttons),
                message_thread_id=reply.thread_id,
            )
        elif reply.photo is not None:
            method = SendPhoto(
                chat_id=chat_id,
                photo=(
                    reply.photo
                    if isinstance(reply.photo, str)
                    else BufferedInputFile(reply.photo.content, filename=reply.photo.filename)
                ),
                caption=reply.text,
                reply_markup=inline_markup(reply.buttons),
                message_thread_id=reply.thread_id,
                allow_paid_broadcast=paid_broadcast(reply),
            )
        else:
            method = SendMessage(
                chat_id=chat_id,
                text=reply.text,
                reply_markup=reply_markup(reply),
                message_thread_id=reply.thread_id,
                allow_paid_broadcast=paid_broadcast(reply),
            )
        try:
            sent = await self.bot(method)
        except TelegramAPIError as error:
            delivery = delivery_of(error)
            log.warning("sending to chat %s: %s (%s)", chat_id, delivery.status, error)
            return delivery
        photo = sent.photo[-1].file_id if isinstance(sent, Message) and sent.photo else None
        return Delivery.sent(sent.message_id, photo)

    def _invoice(
        self,
        chat_id: int,
        invoice: Invoice,
        buttons: tuple[tuple[Button, ...], ...],
        thread_id: int | None,
    ) -> SendInvoice:
        return SendInvoice(
            chat_id=chat_id,
            title=invoice.title,
            description=invoice.description,
            payload=invoice.payload,
            currency=invoice.currency,
            prices=[LabeledPrice(label=invoice.label, amount=invoice.amount)],
            provider_token=self._provider_token,
            reply_markup=inline_markup(buttons),
            message_thread_id=thread_id,
        )

    async def _edit(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        """Edit the pressed button's message; False when it cannot be (send anew instead)."""
        edit = EditMessageText(
            chat_id=chat_id,
            message_id=message_id,
            text=reply.text,
            reply_markup=inline_markup(reply.buttons),
        )
        try:
            await call(self.bot, edit, self.reply_deadline, self.observed)
        except TelegramBadRequest as error:
            if NOT_MODIFIED in error.message.lower():
                return True
            log.info("message %s in chat %s cannot be edited (%s)", message_id, chat_id, error)
            return False
        except TelegramAPIError as error:
            # Not sent again: the edit may have been applied before the connection broke.
            log.warning("editing message %s in chat %s failed: %s", message_id, chat_id, error)
        return True

    async def _call(self, method: TelegramMethod[Any], what: str) -> bool:
        try:
            await call(self.bot, method, self.reply_deadline, self.observed)
        except TelegramAPIError as error:
            log.warning("%s failed: %s", what, error)
            return False
        return True

    async def open_topic(self, chat_id: int, name: str) -> int | None:
        """A new forum topic in `chat_id` (the staff chat); its thread id, None if refused."""
        try:
            topic = await call(
                self.bot,
                CreateForumTopic(chat_id=chat_id, name=name[:128]),
                self.reply_deadline,
                self.observed,
            )
        except TelegramAPIError as error:
            log.warning("opening a topic in chat %s failed: %s", chat_id, error)
            return None
        return topic.message_thread_id

    async def remove_message(self, chat_id: int, message_id: int) -> Delivery:
        """Delete an earlier message (a broadcast sent by mistake), tried once; how it went
        (the outbound port's `MessageDeleter`)."""
        try:
            await self.bot(DeleteMessage(chat_id=chat_id, message_id=message_id))
        except TelegramAPIError as error:
            log.warning("deleting message %s in chat %s: %s", message_id, chat_id, error)
            return delivery_of(error)
        return Delivery.sent(message_id)

    async def edit_message(self, chat_id: int, message_id: int, reply: Reply) -> Delivery:
        """Replace an earlier message's text and buttons (a ticket card), tried once."""
        edit = EditMessageText(
            chat_id=chat_id,
            message_id=message_id,
            text=reply.text,
            reply_markup=inline_markup(reply.buttons),
        )
        try:
            await self.bot(edit)
        except TelegramAPIError as error:
            if isinstance(error, TelegramBadRequest) and NOT_MODIFIED in error.message.lower():
                return Delivery.sent(message_id)
            delivery = delivery_of(error)
            log.warning("editing message %s in chat %s: %s", message_id, chat_id, error)
            return delivery
        return Delivery.sent(message_id)


# -- aiogram handlers: the conversation and the payment token come by dependency injection -----
async def converse(
    conversation: ConversationRouter, sender: Sender, event: Incoming | None
) -> None:
    """One event through the conversation, its outcome through the sender."""
    if event is None:
        return
    try:
        outcome = await conversation.handle(event)
    except DatabaseBusy:
        # Nothing was done: the turn ends busy (the customer is asked to try again, and the
        # update is delivered again in webhook mode).
        if event.callback_id is not None:
            await sender.answer_button(event.callback_id, None)
        ask_again()
        return
    except Exception:
        # The router answers its own failures; this one it could not (no database?). A press
        # is still answered; a payment question is not, so Telegram refuses that payment.
        if event.callback_id is not None:
            await sender.answer_button(event.callback_id, None)
        raise
    await sender.deliver(event, outcome)


async def on_message(
    message: Message,
    bot: Bot,
    conversation: ConversationRouter,
    payments_token: str | None,
    reply_deadline: float = REPLY_DEADLINE_SECONDS,
    unasked_limiter: SharedLimiter | None = None,
    observed: Observations = UNOBSERVED,
) -> None:
    if await for_another_bot(bot, message):
        return
    sender = Sender(bot, provider_token=payments_token, reply_deadline=reply_deadline)
    sender.unasked_limiter = unasked_limiter
    sender.observed = observed
    await converse(conversation, sender, message_to_event(message))


async def on_button(
    query: CallbackQuery,
    bot: Bot,
    conversation: ConversationRouter,
    payments_token: str | None,
    reply_deadline: float = REPLY_DEADLINE_SECONDS,
    unasked_limiter: SharedLimiter | None = None,
    observed: Observations = UNOBSERVED,
) -> None:
    sender = Sender(bot, provider_token=payments_token, reply_deadline=reply_deadline)
    sender.unasked_limiter = unasked_limiter
    sender.observed = observed
    event = callback_to_event(query)
    if event is None:
        await sender.answer_button(query.id, None)
        return
    await converse(conversation, sender, event)


async def on_pre_checkout(
    query: PreCheckoutQuery,
    bot: Bot,
    conversation: ConversationRouter,
    payments_token: str | None,
    reply_deadline: float = REPLY_DEADLINE_SECONDS,
    unasked_limiter: SharedLimiter | None = None,
    observed: Observations = UNOBSERVED,
) -> None:
    sender = Sender(bot, provider_token=payments_token, reply_deadline=reply_deadline)
    sender.unasked_limiter = unasked_limiter
    sender.observed = observed
    await converse(conversation, sender, pre_checkout_to_event(query))


async def taken_by_the_conversation(message: Message) -> bool:
    """A typed text, a picture, a shared contact or a successful payment. (A coroutine: aiogram
    runs a plain function filter, such as a magic `F` filter, on a worker thread for every
    message.)"""
    return bool(message.text or message.photo or message.contact or message.successful_payment)


def build_router() -> Router:
    router = Router(name="conversation")
    router.message.register(on_message, taken_by_the_conversation)
    router.callback_query.register(on_button)
    router.pre_checkout_query.register(on_pre_checkout)
    router.errors.register(on_refused, a_refusal)
    return router


# -- an update refused (the database away, its chat's turn not had): one line, no traceback ----
class Refusal:
    """Handed to the handling of one webhook update: says whether it was refused, and why
    (the webhook then answers non-2xx, and Telegram delivers it again)."""

    def __init__(self) -> None:
        self.cause: str | None = None


async def a_refusal(event: ErrorEvent) -> bool:
    """The error is an update refused rather than a fault (a fault keeps aiogram's own log
    line, with its traceback)."""
    return refusal_cause(event.exception) is not None


async def on_refused(
    event: ErrorEvent,
    conversation: ConversationRouter,
    event_context: EventContext | None = None,
    refusal: Refusal | None = None,
) -> bool:
    """aiogram's error handler for refused updates: one WARNING line (update id, chat id,
    cause) instead of aiogram's traceback; in webhook mode the `refusal` tells the webhook to
    answer non-2xx."""
    error = event.exception
    chat_id = event_context.chat_id if event_context is not None else None
    if isinstance(error, DatabaseBusy):
        cause = refusal_cause(error)  # `UpdateFlow` logged this one already
    else:
        cause = conversation.outage.refused(error, event.update.update_id, chat_id)
    if refusal is not None:
        refusal.cause = cause
    return True


# -- ordering, bounds and draining of updates --------------------------------------------------
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
FloodNotice = Callable[[int, str | None], Awaitable[object]]


def carries_a_payment(event: TelegramObject) -> bool:
    """A payment question or a successful payment: never dropped, whatever the chat sent."""
    if not isinstance(event, Update):
        return False
    message = event.message
    return event.pre_checkout_query is not None or (
        message is not None and message.successful_payment is not None
    )


class UpdateFlow(BaseMiddleware):
    """Outer update middleware: each chat's updates one at a time in arrival order (its state is
    read and written per update), different chats concurrently; a chat holding `chat_limit`
    updates gets no more in (dropped; the first drop of a flood asks the customer to slow down
    through `on_flood`); counts updates in flight so a stop can wait for them. With `shared`
    turns a chat's updates are also one at a time across processes, and one already worked is
    skipped."""

    def __init__(
        self, chat_limit: int = DEFAULT_CHAT_LIMIT, *, shared: SharedTurns | None = None
    ) -> None:
        self.queues = ChatQueues(chat_limit, shared=shared)
        self.on_flood: FloodNotice | None = None
        # Tells a customer whose update found no database connection free to try again; with
        # `redeliver` (webhook mode) the update then fails so that Telegram delivers it again.
        self.on_busy: FloodNotice | None = None
        self.redeliver = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = data.get(EVENT_CONTEXT_KEY)
        chat_id = context.chat_id if isinstance(context, EventContext) else None
        self._in_flight += 1
        self._idle.clear()
        try:
            if chat_id is None:
                return await handler(event, data)
            return await self._in_chat_turn(chat_id, handler, event, data)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _in_chat_turn(
        self, chat_id: int, handler: Handler, event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        admission = self.queues.admit(chat_id, always=carries_a_payment(event))
        if admission.lock is None:
            if admission.tell and self.on_flood is not None:
                context = data.get(EVENT_CONTEXT_KEY)
                user = context.user if isinstance(context, EventContext) else None
                await self.on_flood(chat_id, user.language_code if user is not None else None)
            return None
        update_id = event.update_id if isinstance(event, Update) else None
        try:
            async with self.queues.turn(admission, update_id) as fresh:
                if not fresh:
                    log.info("update %s was handled before: not again", update_id)
                    return None
                return await handler(event, data)
        except DatabaseBusy:
            log.warning("update %s found no database connection free", update_id)
            if self.on_busy is not None:
                context = data.get(EVENT_CONTEXT_KEY)
                user = context.user if isinstance(context, EventContext) else None
                await self.on_busy(chat_id, user.language_code if user is not None else None)
            if self.redeliver:
                raise
            return None
        finally:
            self.queues.leave(admission)

    async def drained(self, seconds: float = DRAIN_SECONDS) -> bool:
        """Wait until no update is being handled; False when `seconds` ran out first."""
        await asyncio.sleep(0)  # let updates just handed to tasks enter
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


# -- factories ---------------------------------------------------------------------------------
def build_bot(settings: Settings) -> Bot:
    if not settings.token:
        raise ValueError("BOT_TOKEN is required for the aiogram front end")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(token=settings.token, session=session)


def payments_token(settings: Settings) -> str | None:
    token = settings.payment_provider_token
    return token.get_secret_value() if token is not None else None


def build_dispatcher(app: App, *, flow: UpdateFlow | None = None) -> Dispatcher:
    """A dispatcher without aiogram's FSM (conversation state lives in our database); the
    handlers get the conversation and the payment provider token injected."""
    dispatcher = Dispatcher(
        disable_fsm=True,
        conversation=app.conversation,
        payments_token=payments_token(app.settings),
        reply_deadline=app.settings.reply_deadline_seconds,
        unasked_limiter=app.outbound_limiter,
        observed=app.metrics,
    )
    dispatcher.update.outer_middleware(flow or UpdateFlow(app.settings.chat_queue_limit))
    dispatcher.include_router(build_router())
    return dispatcher


# -- the running front end ---------------------------------------------------------------------
class AiogramFrontend:
    """One App on Telegram through aiogram: long polling, or a webhook server with WEBHOOK_URL."""

    def __init__(self, app: App, *, polling_timeout: int = 10) -> None:
        self.settings = app.settings
        self._app = app
        self.bot = build_bot(app.settings)
        self.sender = Sender(
            self.bot,
            provider_token=payments_token(app.settings),
            reply_deadline=app.settings.reply_deadline_seconds,
        )
        self.sender.observed = app.metrics
        self.flow = UpdateFlow(app.settings.chat_queue_limit, shared=shared_chat_turns(app))
        self.flow.on_flood = self.sender.slow_down
        self.flow.on_busy = self.sender.busy
        self.flow.redeliver = self.webhook_mode
        self.dispatcher = build_dispatcher(app, flow=self.flow)
        self._polling_timeout = polling_timeout
        self._polling: asyncio.Task[None] | None = None
        self._server: WebhookServer | None = None

    @property
    def webhook_mode(self) -> bool:
        return self.settings.webhook_url is not None

    async def start(self) -> None:
        """Return once updates flow; raises when the token or the server is wrong. From then
        on the app's outbound port (the scheduler's messages) sends through this bot."""
        me = await self.bot.me()
        self._app.conversation.bot_username = self._app.conversation.bot_username or me.username
        broadcasts = self._app.services.broadcasts
        broadcasts.bot_username = broadcasts.bot_username or me.username
        await self._set_command_menus()
        log.info("aiogram front end for @%s in %s mode", me.username, self._mode)
        if self.webhook_mode:
            await self._start_webhook()
        else:
            await self._start_polling()
        self._app.outbound.attach(self.sender)
        if self._server is not None:
            self._server.serving = True  # /readyz: updates are taken in

    async def _set_command_menus(self) -> None:
        """Telegram's command menu: the customer's per language, the staff's in staff chats.
        A refusal is logged; the bot works without a menu."""
        staff = await self._app.services.staff.members()
        for menu in command_menus(self._app.conversation, staff):
            scope = (
                BotCommandScopeDefault()
                if menu.chat_id is None
                else BotCommandScopeChat(chat_id=menu.chat_id)
            )
            commands = [BotCommand(command=name, description=text) for name, text in menu.commands]
            try:
                await self.bot.set_my_commands(
                    commands, scope=scope, language_code=menu.language_code
                )
            except (TimeoutError, TelegramAPIError, OSError) as error:
                log.warning("setMyCommands for %s failed: %s", menu.chat_id or "all chats", error)

    async def stop(self) -> None:
        """Stop taking updates, let those in hand finish, close the connection. Idempotent.
        The App (its database) is the caller's to close."""
        self._app.outbound.detach()
        try:
            if self._polling is not None:
                await self._stop_polling(self._polling)
            if self._server is not None:
                await self._stop_webhook(self._server)
        finally:
            self._polling = None
            self._server = None
            await self.bot.session.close()

    @property
    def _mode(self) -> str:
        return "webhook" if self.webhook_mode else "polling"

    # polling
    async def _start_polling(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        started = asyncio.Event()

        async def on_startup() -> None:
            started.set()

        self.dispatcher.startup.register(on_startup)
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                polling_timeout=self._polling_timeout,
                handle_as_tasks=True,
                # Fetch no more than is being worked off: Telegram keeps the rest.
                tasks_concurrency_limit=self.settings.updates_in_flight,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        )
        ready = asyncio.create_task(started.wait())
        await asyncio.wait({ready, self._polling}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self._polling.done():
            self._polling.result()  # polling ended at once: raise why

    async def _stop_polling(self, polling: asyncio.Task[None]) -> None:
        if not polling.done():
            with suppress(RuntimeError):  # already stopping
                await self.dispatcher.stop_polling()
        try:
            await polling
        except Exception:
            log.exception("polling ended with an error")
        # aiogram confirms updates to the server as it fetches them: wait for those in hand.
        if not await self.flow.drained():
            log.warning("stopped with updates still being handled")

    # webhook
    async def _start_webhook(self) -> None:
        settings = self.settings
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        if not secret or not settings.webhook_url:
            raise ValueError("webhook mode needs WEBHOOK_SECRET as well as WEBHOOK_URL")
        bot = self.bot

        def parse(data: dict[str, Any]) -> Update:
            return Update.model_validate(data, context={"bot": bot})

        async def feed(update: Update) -> None:
            # Acknowledged once handled (within Telegram's minute; longer ones go on after);
            # refused (logged by `on_refused`), answered non-2xx so Telegram sends it again.
            refusal = Refusal()
            await self.dispatcher.feed_webhook_update(bot, update, refusal=refusal)
            if refusal.cause is not None:
                raise Refused(refusal.cause)

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
        await self.bot.set_webhook(
            settings.webhook_url,
            secret_token=secret,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )

    async def _stop_webhook(self, server: WebhookServer) -> None:
        # The webhook stays registered: another worker, or this one restarted, takes over.
        await server.stop_listening()
        if not await self.flow.drained():
            log.warning("stopped with updates still being handled")
        await server.close()


async def run_aiogram(app: App) -> None:
    """Run the aiogram front end until cancelled or SIGINT/SIGTERM, then stop cleanly."""
    frontend = AiogramFrontend(app)
    try:
        await frontend.start()
        await until_stop_signal()
    finally:
        await frontend.stop()


__all__ = [
    "AiogramFrontend",
    "Sender",
    "UpdateFlow",
    "build_bot",
    "build_dispatcher",
    "build_router",
    "callback_to_event",
    "message_to_event",
    "pre_checkout_to_event",
    "run_aiogram",
]
