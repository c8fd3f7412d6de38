"""The console front end: try the bot in a terminal with no token.

Buttons are shown numbered; typing a number presses it. While the bot asks for a phone number
with its share-contact keyboard, a typed number stands in for the shared contact. Reads standard
input line by line and stops cleanly at the end of input, so a conversation can be scripted.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from domain.customers import TelegramProfile
from domain.languages import language_from_telegram
from domain.phone import PhoneNumberError, parse_phone_number
from handlers.contract import (
    ContactKeyboard,
    Delivery,
    DeliveryStatus,
    Document,
    Incoming,
    Outcome,
    Picture,
    RemoveKeyboard,
    Reply,
    button_event,
    contact_event,
    message_event,
)
from handlers.i18n import texts
from handlers.router import ConversationRouter


class ConsoleFrontend:
    def __init__(
        self,
        conversation: ConversationRouter,
        user: TelegramProfile,
        *,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
    ) -> None:
        self._conversation = conversation
        self._user = user
        self._stdin = stdin
        self._stdout = stdout
        self._buttons: dict[int, str] = {}
        self._contact_keyboard = False
        self._next_message_id = 1

    async def run(self) -> None:
        self._print(self._t("console.intro"))
        while True:
            line = await asyncio.to_thread(self._stdin.readline)
            if not line:
                return
            text = line.strip()
            if not text:
                continue
            self._print(f"> {text}")
            outcome = await self._conversation.handle(self.event_for(text))
            self.render(outcome)
            for then in outcome.after_delivery:
                await then()

    def event_for(self, text: str) -> Incoming:
        chat_id = self._user.telegram_id
        if text.isdigit() and int(text) in self._buttons:
            return button_event(
                self._user,
                chat_id,
                self._buttons[int(text)],
                callback_id=f"console-{text}",
                message_id=self._next_message_id - 1,
            )
        # A typed line is a message of the chat, numbered in the same run as the bot's (as in
        # Telegram): staff answers and replies refer to it.
        message_id = self._next_message_id
        self._next_message_id += 1
        if self._contact_keyboard and _looks_like_phone(text):
            return contact_event(
                self._user,
                chat_id,
                text,
                contact_user_id=self._user.telegram_id,
                message_id=message_id,
            )
        return message_event(self._user, chat_id, text, message_id=message_id)

    def render(self, outcome: Outcome, *, keep_buttons: bool = False) -> None:
        """Print the replies, their buttons numbered. `keep_buttons`: a message that arrived on
        its own (a receipt, a reminder) numbers its buttons after those already on screen, so
        the screen the customer is reading keeps its numbers."""
        if outcome.notice:
            self._print(f"[{outcome.notice}]")
        if not keep_buttons:
            self._buttons = {}
        for reply in outcome.replies:
            self._print((self._t("console.edited") + " " if reply.edit else "") + reply.text)
            if reply.document is not None:
                self._print(self._saved(reply.document))
            if isinstance(reply.photo, Picture):
                self._print(self._saved(Document(reply.photo.filename, reply.photo.content)))
            elif reply.photo is not None:
                self._print(f"  <{self._t('console.picture')}>")
            self._next_message_id += 0 if reply.edit else 1
            for row in reply.buttons:
                cells = []
                for button in row:
                    if button.data is not None:
                        number = max(self._buttons, default=0) + 1
                        self._buttons[number] = button.data
                        cells.append(f"[{number}] {button.text}")
                    else:
                        cells.append(f"[{button.text}: {button.url}]")
                self._print("  " + "   ".join(cells))
            if isinstance(reply.keyboard, ContactKeyboard):
                self._contact_keyboard = True
                hint = reply.keyboard.typed_hint
                self._print(f"  <{reply.keyboard.share_text}{': ' + hint if hint else ''}>")
            elif isinstance(reply.keyboard, RemoveKeyboard):
                self._contact_keyboard = False

    def _saved(self, document: Document) -> str:
        """A document is kept under ./var/documents (the console has no chat to attach it to)."""
        folder = Path("var") / "documents"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / document.filename
        path.write_bytes(document.content)
        return f"  <file {document.filename}, {len(document.content)} bytes: saved to {path}>"

    def _t(self, key: str) -> str:
        """The console's own words, in the console user's language."""
        return texts(language_from_telegram(self._user.language_code))(key)

    def _print(self, text: str) -> None:
        print(text, file=self._stdout, flush=True)

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        """The console's outbound port: a message nobody just asked for (a sweep's news)."""
        if chat_id != self._user.telegram_id:
            return Delivery(DeliveryStatus.REJECTED, reason="not the console's chat")
        self.render(Outcome(replies=[reply]), keep_buttons=True)
        return Delivery.sent()


def _looks_like_phone(text: str) -> bool:
    try:
        parse_phone_number(text)
    except PhoneNumberError as error:
        return error.reason != "not_digits"
    return True
