"""A neutral `Outcome` turned into Bot API calls through python-telegram-bot's `Bot`.

Sending never raises: a failed call is logged and the next reply is still tried, so one blocked
chat or one network hiccup cannot stop the bot.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import lru_cache

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.delivery import (
    REPLY_DEADLINE_SECONDS,
    OutcomeSender,
    deadline_in,
    paid_broadcast,
    waited_out,
)
from domain.observations import UNOBSERVED, Observations
from handlers.contract import (
    Button,
    ContactKeyboard,
    Delivery,
    DeliveryStatus,
    Document,
    Invoice,
    Picture,
    RemoveKeyboard,
    Reply,
)

log = logging.getLogger(__name__)

ApiCall = Callable[[], Awaitable[object]]
# A Bot API parameter as JSON (a markup's wire form).
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove
NOT_MODIFIED = "message is not modified"
# PTB's markups cannot change once built, so each distinct keyboard (a menu in one language, a
# customer's list of numbers) is built once and shown again as it is; the least recently shown
# are forgotten beyond this many.
KEYBOARDS_KEPT = 1024
REMOVE_KEYBOARD = ReplyKeyboardRemove()


class Sender(OutcomeSender):
    """Shows the conversation's answers through one bot; also the outbound port's notifier."""

    def __init__(
        self,
        bot: Bot,
        *,
        provider_token: str | None = None,
        reply_deadline: float = REPLY_DEADLINE_SECONDS,
    ) -> None:
        self._bot = bot
        self._provider_token = provider_token
        self.reply_deadline = reply_deadline

    async def answer_button(self, callback_id: str, notice: str | None) -> None:
        await self._call(
            lambda: self._bot.answer_callback_query(callback_id, text=notice or None),
            "answering a button press",
        )

    async def answer_pre_checkout(self, query_id: str | None, error: str | None) -> None:
        if query_id is None:
            return
        await self._call(
            lambda: self._bot.answer_pre_checkout_query(query_id, error is None, error),
            "answering a pre-checkout query",
        )

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        """One new message (or invoice) in `chat_id`, tried once; what became of it."""
        photo: str | None = None
        try:
            if reply.invoice is not None:
                invoice = await self._send_invoice(
                    chat_id, reply.invoice, inline_markup(reply.buttons), reply.thread_id
                )
                message_id: int | None = invoice.message_id
            elif reply.document is not None:
                message_id = await self._send_document(chat_id, reply, reply.document)
            elif reply.photo is not None:
                message_id, photo = await self._send_photo(chat_id, reply, reply.photo)
            else:
                message_id = await self._send_message(chat_id, reply)
        except TelegramError as error:
            delivery = delivery_of(error)
            log.warning("sending to chat %s: %s (%r)", chat_id, delivery.status, error)
            return delivery
        return Delivery.sent(message_id, photo)

    async def _send_message(self, chat_id: int, reply: Reply) -> int | None:
        """sendMessage; the new message's id."""
        sent = await self._bot.send_message(
            chat_id,
            reply.text,
            reply_markup=reply_markup(reply),
            message_thread_id=reply.thread_id,
            allow_paid_broadcast=paid_broadcast(reply),
        )
        return sent.message_id

    async def _send_document(self, chat_id: int, reply: Reply, document: Document) -> int:
        """sendDocument, the reply's text as the caption; the new message's id."""
        sent = await self._bot.send_document(
            chat_id,
            document.content,
            filename=document.filename,
            caption=reply.text,
            reply_markup=inline_markup(reply.buttons),
            message_thread_id=reply.thread_id,
        )
        return sent.message_id

    async def _send_photo(
        self, chat_id: int, reply: Reply, photo: str | Picture
    ) -> tuple[int, str | None]:
        """sendPhoto (a picture Telegram holds, by its file id, or one the bot made, uploaded),
        the reply's text as the caption; the new message's id and its largest size's file id."""
        sent = await self._bot.send_photo(
            chat_id,
            photo if isinstance(photo, str) else photo.content,
            filename=None if isinstance(photo, str) else photo.filename,
            caption=reply.text,
            reply_markup=inline_markup(reply.buttons),
            message_thread_id=reply.thread_id,
            allow_paid_broadcast=paid_broadcast(reply),
        )
        return sent.message_id, sent.photo[-1].file_id if sent.photo else None

    def _send_invoice(
        self,
        chat_id: int,
        invoice: Invoice,
        buttons: InlineKeyboardMarkup | None,
        thread_id: int | None,
    ) -> Awaitable[Message]:
        return self._bot.send_invoice(
            chat_id,
            invoice.title,
            invoice.description,
            invoice.payload,
            invoice.currency,
            [LabeledPrice(invoice.label, invoice.amount)],
            provider_token=self._provider_token,
            reply_markup=buttons,
            message_thread_id=thread_id,
        )

    async def _edit(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        """Edit the pressed button's message; False when it cannot be (send anew instead)."""
        try:
            await _retrying(
                lambda: self._bot.edit_message_text(
                    reply.text, chat_id, message_id, reply_markup=inline_markup(reply.buttons)
                ),
                self.reply_deadline,
                self.observed,
            )
        except BadRequest as error:
            if NOT_MODIFIED in error.message.lower():
                return True
            log.info("message %s in chat %s cannot be edited (%s)", message_id, chat_id, error)
            return False
        except TelegramError as error:
            # Not sent again: the edit may have been applied before the connection broke.
            log.warning("editing message %s in chat %s failed: %r", message_id, chat_id, error)
        return True

    async def _call(self, make: ApiCall, what: str) -> bool:
        """Make one Bot API call; a failure is logged, never raised."""
        try:
            await _retrying(make, self.reply_deadline, self.observed)
        except TelegramError as error:
            log.warning("%s failed: %r", what, error)
            return False
        return True

    async def open_topic(self, chat_id: int, name: str) -> int | None:
        """A new forum topic in `chat_id` (the staff chat); its thread id, None if refused."""
        try:
            topic = await self._bot.create_forum_topic(chat_id, name[:128])
        except TelegramError as error:
            log.warning("opening a topic in chat %s failed: %r", chat_id, error)
            return None
        return topic.message_thread_id

    async def remove_message(self, chat_id: int, message_id: int) -> Delivery:
        """Delete an earlier message (a broadcast sent by mistake), tried once; how it went
        (the outbound port's `MessageDeleter`)."""
        try:
            await self._bot.delete_message(chat_id, message_id)
        except TelegramError as error:
            log.warning("deleting message %s in chat %s: %r", message_id, chat_id, error)
            return delivery_of(error)
        return Delivery.sent(message_id)

    async def edit_message(self, chat_id: int, message_id: int, reply: Reply) -> Delivery:
        """Replace an earlier message's text and buttons (a ticket card), tried once."""
        try:
            await self._bot.edit_message_text(
                reply.text, chat_id, message_id, reply_markup=inline_markup(reply.buttons)
            )
        except TelegramError as error:
            if isinstance(error, BadRequest) and NOT_MODIFIED in error.message.lower():
                return Delivery.sent(message_id)
            delivery = delivery_of(error)
            log.warning("editing message %s in chat %s: %r", message_id, chat_id, error)
            return delivery
        return Delivery.sent(message_id)


def delivery_of(error: TelegramError) -> Delivery:
    """What a failed Bot API call means for sending the message again."""
    if isinstance(error, RetryAfter):
        return Delivery(DeliveryStatus.RATE_LIMITED, retry_after=_seconds(error), reason=str(error))
    if isinstance(error, Forbidden):
        return Delivery(DeliveryStatus.BLOCKED, reason=error.message)
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        return Delivery(DeliveryStatus.RETRY, reason=error.message)
    return Delivery(DeliveryStatus.REJECTED, reason=error.message)


def reply_markup(reply: Reply) -> ReplyMarkup | None:
    """The markup of a new message. A message carries one markup: a reply keyboard wins."""
    if reply.keyboard is not None and reply.buttons:
        log.warning("a reply with both a keyboard and buttons; the buttons are dropped")
    if isinstance(reply.keyboard, ContactKeyboard):
        return _share_contact_keyboard(reply.keyboard.share_text)
    if isinstance(reply.keyboard, RemoveKeyboard):
        return REMOVE_KEYBOARD
    return inline_markup(reply.buttons)


@lru_cache(maxsize=16)
def _share_contact_keyboard(share_text: str) -> ReplyKeyboardMarkup:
    share = KeyboardButton(share_text, request_contact=True)
    return ReplyKeyboardMarkup([[share]], resize_keyboard=True, one_time_keyboard=True)


def inline_markup(buttons: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return _inline_keyboard(buttons)


@lru_cache(maxsize=KEYBOARDS_KEPT)
def _inline_keyboard(buttons: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_inline_button(button) for button in row] for row in buttons])


def _inline_button(button: Button) -> InlineKeyboardButton:
    if button.url is not None:
        return InlineKeyboardButton(button.text, url=button.url)
    return InlineKeyboardButton(button.text, callback_data=button.data)


async def _retrying(
    make: ApiCall,
    deadline_seconds: float = REPLY_DEADLINE_SECONDS,
    observed: Observations = UNOBSERVED,
) -> object:
    """The call, made again after each flood-control pause (429) Telegram asks for, as long as
    the next try starts within `deadline_seconds`; each 429 told to `observed`."""
    deadline = deadline_in(deadline_seconds)
    while True:
        try:
            return await make()
        except RetryAfter as error:
            observed.too_many_requests()
            if not await waited_out(_seconds(error), deadline):
                raise


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that `retry_after` becomes a timedelta; both forms are read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
