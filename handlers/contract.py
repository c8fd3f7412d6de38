"""The framework-neutral contract between the front ends and the conversation.

A front end turns whatever its framework hands it into one `Incoming` event, gives it to the
conversation, and turns the `Outcome` it gets back into Bot API calls. Nothing else crosses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.customers import TelegramProfile

# Telegram limits that the contract guarantees to the front ends.
MAX_BUTTON_DATA_BYTES = 64
MAX_MESSAGE_CHARS = 4096


class EventKind(StrEnum):
    COMMAND = "command"
    TEXT = "text"
    BUTTON = "button"
    CONTACT = "contact"


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

    @property
    def language_code(self) -> str | None:
        return self.user.language_code


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
) -> Incoming:
    """A typed message: a command when it starts with one, plain text otherwise."""
    command = parse_command(text)
    if command is not None:
        name, args = command
        return Incoming(
            EventKind.COMMAND,
            user,
            chat_id,
            chat_type,
            text=text,
            command=name,
            args=args,
            message_id=message_id,
        )
    return Incoming(EventKind.TEXT, user, chat_id, chat_type, text=text, message_id=message_id)


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
    """A reply keyboard whose button shares the customer's own phone number."""

    share_text: str


@dataclass(frozen=True)
class RemoveKeyboard:
    """Take away a reply keyboard shown earlier."""


ReplyKeyboard = ContactKeyboard | RemoveKeyboard


@dataclass(frozen=True)
class Reply:
    """One message to show. `edit` replaces the message whose button was pressed."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: ReplyKeyboard | None = None
    edit: bool = False
    chat_id: int | None = None

    def __post_init__(self) -> None:
        if len(self.text) > MAX_MESSAGE_CHARS:
            raise ValueError("message text over Telegram's limit")
        if self.edit and self.keyboard is not None:
            raise ValueError("an edited message cannot change the reply keyboard")


@dataclass
class Outcome:
    """Everything the conversation answers to one event."""

    replies: list[Reply] = field(default_factory=list)
    # A button press is always answered; a short text shows as a notice in the client.
    notice: str | None = None
