"""The framework-neutral contract between the front ends and the conversation.

A front end turns whatever its framework hands it into one `Incoming` event, gives it to the
conversation, and turns the `Outcome` it gets back into Bot API calls. Nothing else crosses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from domain.customers import TelegramProfile

# Telegram limits that the contract guarantees to the front ends.
MAX_BUTTON_DATA_BYTES = 64
# A message's text, counted as Telegram counts it: in UTF-16 code units (an emoji is two).
MAX_MESSAGE_CHARS = 4096
# An inline keyboard: at most 100 buttons in all, at most 8 in a row.
MAX_KEYBOARD_BUTTONS = 100
MAX_ROW_BUTTONS = 8


def text_length(text: str) -> int:
    """The length of a text as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


class EventKind(StrEnum):
    COMMAND = "command"
    TEXT = "text"
    BUTTON = "button"
    CONTACT = "contact"
    # Telegram Payments: the pre-checkout question, and the successful payment message.
    PRE_CHECKOUT = "pre_checkout"
    PAYMENT = "payment"
    # A picture (its caption, if any, is the event's text).
    PHOTO = "photo"


@dataclass(frozen=True)
class PaymentEvent:
    """A pre_checkout_query (with `query_id`) or a successful_payment (with the charge ids)."""

    payload: str
    currency: str
    total_amount: int
    query_id: str | None = None
    telegram_charge_id: str | None = None
    provider_charge_id: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One thing a person did in a chat."""

    kind: EventKind
    user: TelegramProfile
    chat_id: int
    chat_type: str = "private"
    text: str = ""
    command: str | None = None
    args: str = ""
    button_data: str | None = None
    callback_id: str | None = None
    message_id: int | None = None
    contact_phone: str | None = None
    contact_user_id: int | None = None
    payment: PaymentEvent | None = None
    # The message this one answers (a staff reply to a ticket), and the forum topic it is in.
    reply_to_message_id: int | None = None
    thread_id: int | None = None
    # A PHOTO event's picture: Telegram's file id of its largest size.
    photo: str | None = None

    @property
    def language_code(self) -> str | None:
        return self.user.language_code

    @property
    def typed_or_shared(self) -> str:
        """What the customer gave: a shared contact's number, or the text they typed."""
        if self.kind is EventKind.CONTACT:
            return self.contact_phone or ""
        return self.text


def parse_command(text: str) -> tuple[str, str] | None:
    """ "/start@wallet_bot abc" -> ("start", "abc"); None when the text is not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, args = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name or not all(ch.isalnum() or ch == "_" for ch in name):
        return None
    return name, args.strip()


def message_event(
    user: TelegramProfile,
    chat_id: int,
    text: str,
    *,
    chat_type: str = "private",
    message_id: int | None = None,
    reply_to_message_id: int | None = None,
    thread_id: int | None = None,
) -> Incoming:
    """A typed message: a command when it starts with one, plain text otherwise."""
    command = parse_command(text)
    name, args = command if command is not None else (None, "")
    return Incoming(
        EventKind.COMMAND if command is not None else EventKind.TEXT,
        user,
        chat_id,
        chat_type,
        text=text,
        command=name,
        args=args,
        message_id=message_id,
        reply_to_message_id=reply_to_message_id,
        thread_id=thread_id,
    )


def photo_event(
    user: TelegramProfile,
    chat_id: int,
    file_id: str,
    caption: str = "",
    *,
    chat_type: str = "private",
    message_id: int | None = None,
) -> Incoming:
    """A picture sent in a chat (the largest size's file id), with its caption if any."""
    return Incoming(
        EventKind.PHOTO,
        user,
        chat_id,
        chat_type,
        text=caption,
        photo=file_id,
        message_id=message_id,
    )


def button_event(
    user: TelegramProfile,
    chat_id: int,
    data: str,
    *,
    callback_id: str | None = None,
    message_id: int | None = None,
    chat_type: str = "private",
) -> Incoming:
    return Incoming(
        EventKind.BUTTON,
        user,
        chat_id,
        chat_type,
        button_data=data,
        callback_id=callback_id,
        message_id=message_id,
    )


def contact_event(
    user: TelegramProfile,
    chat_id: int,
    phone: str,
    *,
    contact_user_id: int | None = None,
    chat_type: str = "private",
    message_id: int | None = None,
) -> Incoming:
    return Incoming(
        EventKind.CONTACT,
        user,
        chat_id,
        chat_type,
        contact_phone=phone,
        contact_user_id=contact_user_id,
        message_id=message_id,
    )


def pre_checkout_event(
    user: TelegramProfile, query_id: str, payload: str, currency: str, total_amount: int
) -> Incoming:
    """Telegram asks whether this invoice may be paid now; answer within 10 seconds."""
    payment = PaymentEvent(payload, currency, total_amount, query_id=query_id)
    return Incoming(EventKind.PRE_CHECKOUT, user, user.telegram_id, payment=payment)


def payment_event(
    user: TelegramProfile,
    chat_id: int,
    payload: str,
    currency: str,
    total_amount: int,
    telegram_charge_id: str,
    provider_charge_id: str | None = None,
) -> Incoming:
    """A successful_payment message: the money was taken."""
    payment = PaymentEvent(
        payload,
        currency,
        total_amount,
        telegram_charge_id=telegram_charge_id,
        provider_charge_id=provider_charge_id,
    )
    return Incoming(EventKind.PAYMENT, user, chat_id, payment=payment)


@dataclass(frozen=True)
class Button:
    """An inline button: `data` comes back as a BUTTON event; `url` opens a link."""

    text: str
    data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("a button has either data or a url")
        if self.data is not None and len(self.data.encode()) > MAX_BUTTON_DATA_BYTES:
            raise ValueError(f"button data over {MAX_BUTTON_DATA_BYTES} bytes: {self.data!r}")


@dataclass(frozen=True)
class ContactKeyboard:
    """A reply keyboard whose button shares the customer's own phone number. `typed_hint` is
    for a front end without such a button (the console): how to give the number instead."""

    share_text: str
    typed_hint: str = ""


@dataclass(frozen=True)
class RemoveKeyboard:
    """Take away a reply keyboard shown earlier."""


ReplyKeyboard = ContactKeyboard | RemoveKeyboard


@dataclass(frozen=True)
class Invoice:
    """A Telegram Payments invoice. The provider token is the front end's (from settings)."""

    title: str
    description: str
    payload: str
    currency: str
    amount: int  # in the currency's smallest unit: fen
    label: str


# A document's caption, at most (Telegram's limit), and its size (a bot may send 50 MB).
MAX_CAPTION_CHARS = 1024
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """A file sent as a document (sendDocument); the reply's text is its caption."""

    filename: str
    content: bytes
    mime_type: str = "text/csv"

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename or "\\" in self.filename:
            raise ValueError(f"bad document file name {self.filename!r}")
        if not self.content or len(self.content) > MAX_DOCUMENT_BYTES:
            raise ValueError("a document holds 1 byte to 50 MB")


# A picture a bot uploads with sendPhoto, at most (Telegram's limit).
MAX_PICTURE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Picture:
    """A picture the bot made (a chart), uploaded with sendPhoto."""

    content: bytes
    filename: str = "chart.png"

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename or "\\" in self.filename:
            raise ValueError(f"bad picture file name {self.filename!r}")
        if not self.content or len(self.content) > MAX_PICTURE_BYTES:
            raise ValueError("a picture holds 1 byte to 10 MB")


@dataclass(frozen=True)
class Reply:
    """One message to show. `edit` replaces the message whose button was pressed."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: ReplyKeyboard | None = None
    edit: bool = False
    chat_id: int | None = None
    # When set, the message is an invoice (sendInvoice) and `text` is not sent.
    invoice: Invoice | None = None
    # The forum topic of `chat_id` to post in (a staff chat with one topic per ticket).
    thread_id: int | None = None
    # When set, the message is a document (sendDocument) with `text` as its caption.
    document: Document | None = None
    # When set, the message is a picture (sendPhoto: Telegram's file id, or a picture the bot
    # made, uploaded) with `text` as its caption.
    photo: str | Picture | None = None
    # A paid broadcast's message (Telegram's allow_paid_broadcast): sent at the higher paid
    # rate, each message beyond the free ones paid in Telegram Stars.
    paid_broadcast: bool = False

    def __post_init__(self) -> None:
        if len(self.text) > MAX_MESSAGE_CHARS // 2 and text_length(self.text) > MAX_MESSAGE_CHARS:
            raise ValueError("message text over Telegram's limit")
        if sum(len(row) for row in self.buttons) > MAX_KEYBOARD_BUTTONS:
            raise ValueError("more buttons than an inline keyboard holds")
        if any(len(row) > MAX_ROW_BUTTONS for row in self.buttons):
            raise ValueError("more buttons in a row than Telegram shows")
        if not self.text.strip():
            raise ValueError("a message needs text")
        if self.edit and self.keyboard is not None:
            raise ValueError("an edited message cannot change the reply keyboard")
        if self.buttons and self.keyboard is not None:
            raise ValueError("a message has inline buttons or a reply keyboard, not both")
        if self.document is not None:
            if self.edit or self.invoice is not None:
                raise ValueError("a document is sent anew, never as an edit or an invoice")
            if text_length(self.text) > MAX_CAPTION_CHARS:
                raise ValueError("a document's caption over Telegram's limit")
        if self.photo is not None:
            if self.edit or self.invoice is not None or self.document is not None:
                raise ValueError("a picture is sent anew, never as an edit, invoice or document")
            if self.keyboard is not None:
                raise ValueError("a picture carries inline buttons only")
            if text_length(self.text) > MAX_CAPTION_CHARS:
                raise ValueError("a picture's caption over Telegram's limit")


@dataclass
class Outcome:
    """Everything the conversation answers to one event."""

    replies: list[Reply] = field(default_factory=list)
    # A button press is always answered; a short text shows as a notice in the client.
    notice: str | None = None
    # The answer to a PRE_CHECKOUT event: None means "ok"; a text is the refusal shown.
    pre_checkout_error: str | None = None
    # Messages of the event's chat to delete before anything is answered (a typed PIN).
    delete_messages: list[int] = field(default_factory=list)
    # Run by the front end once every reply was accepted (by Telegram, or shown by the
    # console): what may be recorded as told only when it was.
    after_delivery: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


class DeliveryStatus(StrEnum):
    """How one attempt to send a message ended, as far as deciding what to do next goes."""

    SENT = "sent"
    # 403: the person blocked the bot or left the chat; sending again will not help.
    BLOCKED = "blocked"
    # 429: too fast; may be sent again after `retry_after` seconds.
    RATE_LIMITED = "rate_limited"
    # A timeout, a network error or a 5xx: may be sent again after a backoff.
    RETRY = "retry"
    # Any other refusal (400 and the like): the message itself cannot be sent.
    REJECTED = "rejected"


@dataclass(frozen=True)
class Delivery:
    """The result of sending one message; true when it was sent."""

    status: DeliveryStatus
    message_id: int | None = None
    retry_after: float | None = None
    reason: str = ""
    # A picture sent: Telegram's file id of its largest size, to send it again without
    # uploading it (None for any other message, or a front end without Telegram).
    photo: str | None = None

    def __bool__(self) -> bool:
        return self.status is DeliveryStatus.SENT

    @classmethod
    def sent(cls, message_id: int | None = None, photo: str | None = None) -> Delivery:
        return cls(DeliveryStatus.SENT, message_id=message_id, photo=photo)


class Notifier(Protocol):
    """The outbound port: a message to a chat that did not just write (sweeps, staff alerts).

    Implemented in bot/. The `Delivery` says whether (and as which message) it was sent, and when
    it was not, whether trying again can help.
    """

    async def send(self, chat_id: int, reply: Reply) -> Delivery: ...


@runtime_checkable
class TopicOpener(Protocol):
    """Opens a forum topic in a chat (the staff chat: one topic per ticket); its thread id, or
    None when it could not be opened (not a forum, no right to, network)."""

    async def open_topic(self, chat_id: int, name: str) -> int | None: ...


@runtime_checkable
class MessageDeleter(Protocol):
    """Deletes a message the bot sent earlier (a broadcast sent by mistake). A message that is
    gone already, or too old for Telegram to delete, is a REJECTED delivery."""

    async def remove_message(self, chat_id: int, message_id: int) -> Delivery: ...


@runtime_checkable
class MessageEditor(Protocol):
    """Replaces the text and buttons of a message the bot sent earlier (a ticket's card in the
    staff chat, when the ticket's state changes). "Not modified" counts as done."""

    async def edit_message(self, chat_id: int, message_id: int, reply: Reply) -> Delivery: ...
