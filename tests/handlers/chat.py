"""A customer's chat with the conversation, through the neutral contract only."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.customers import TelegramProfile
from handlers.contract import (
    Button,
    Incoming,
    Outcome,
    Reply,
    button_event,
    contact_event,
    message_event,
    photo_event,
)
from handlers.router import ConversationRouter


@dataclass
class Chat:
    conversation: ConversationRouter
    user: TelegramProfile
    last: Outcome = field(default_factory=Outcome)
    # As a front end does once Telegram accepted every reply; False: the process stopped first.
    delivers: bool = True
    # Every message, button press or shared contact the customer sent: what a target of "at
    # most N taps" counts.
    inputs: int = 0

    @classmethod
    def of(
        cls, conversation: ConversationRouter, telegram_id: int = 1001, language: str = "zh-hans"
    ) -> Chat:
        return cls(conversation, TelegramProfile(telegram_id, "小明", None, "xm", language))

    @property
    def chat_id(self) -> int:
        return self.user.telegram_id

    async def handle(self, event: Incoming) -> Outcome:
        self.inputs += 1
        self.last = await self.conversation.handle(event)
        if self.delivers:
            for then in self.last.after_delivery:
                await then()
        return self.last

    async def send(self, text: str) -> Outcome:
        return await self.handle(message_event(self.user, self.chat_id, text))

    async def share_contact(self, phone: str) -> Outcome:
        event = contact_event(self.user, self.chat_id, phone, contact_user_id=self.chat_id)
        return await self.handle(event)

    async def send_photo(self, file_id: str, caption: str = "") -> Outcome:
        return await self.handle(photo_event(self.user, self.chat_id, file_id, caption))

    async def press_data(self, data: str) -> Outcome:
        event = button_event(self.user, self.chat_id, data, callback_id="cb", message_id=1)
        return await self.handle(event)

    async def press(self, label: str) -> Outcome:
        """Press the button whose text is `label`, or else the one whose text contains it."""
        return await self.press_data(self.button(label).data or "")

    def button(self, label: str) -> Button:
        exact = [b for b in self.buttons() if b.text == label]
        found = exact if len(exact) == 1 else [b for b in self.buttons() if label in b.text]
        assert len(found) == 1, f"{label!r} in {[b.text for b in self.buttons()]}"
        return found[0]

    def buttons(self) -> list[Button]:
        return [b for reply in self.last.replies for row in reply.buttons for b in row]

    @property
    def texts(self) -> list[str]:
        return [reply.text for reply in self.last.replies]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def replies(self) -> list[Reply]:
        return self.last.replies
