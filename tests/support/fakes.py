"""Test doubles for support: an outbound port that remembers what it sent, and a staff member
typing and pressing buttons in the staff group through the neutral contract."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from domain.customers import TelegramProfile
from handlers.contract import (
    Delivery,
    DeliveryStatus,
    Outcome,
    Reply,
    button_event,
    message_event,
)
from handlers.router import ConversationRouter


@dataclass
class Sent:
    chat_id: int
    message_id: int
    reply: Reply


@dataclass
class RecordingPort:
    """Sends succeed with increasing message ids; forum topics open with increasing ids; edits
    are recorded."""

    sent: list[Sent] = field(default_factory=list)
    topics: list[tuple[int, str, int]] = field(default_factory=list)
    # Messages edited in place (a ticket card following its ticket's state).
    edits: list[Sent] = field(default_factory=list)
    failing: DeliveryStatus | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(500))

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        if self.failing is not None:
            return Delivery(self.failing, reason="test")
        message_id = next(self._ids)
        self.sent.append(Sent(chat_id, message_id, reply))
        return Delivery.sent(message_id)

    async def open_topic(self, chat_id: int, name: str) -> int | None:
        thread = next(self._ids)
        self.topics.append((chat_id, name, thread))
        return thread

    async def edit_message(self, chat_id: int, message_id: int, reply: Reply) -> Delivery:
        if self.failing is not None:
            return Delivery(self.failing, reason="test")
        self.edits.append(Sent(chat_id, message_id, reply))
        return Delivery.sent(message_id)

    def to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]


@dataclass
class GroupMember:
    """Someone in the staff group: their texts and presses arrive as group events."""

    conversation: ConversationRouter
    user: TelegramProfile
    chat_id: int
    last: Outcome = field(default_factory=Outcome)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(9000))

    async def reply_to(
        self, message_id: int, text: str, *, thread_id: int | None = None, own_id: int | None = None
    ) -> Outcome:
        event = message_event(
            self.user,
            self.chat_id,
            text,
            chat_type="supergroup",
            message_id=own_id if own_id is not None else next(self._ids),
            reply_to_message_id=message_id,
            thread_id=thread_id,
        )
        self.last = await self.conversation.handle(event)
        return self.last

    async def say(self, text: str, *, thread_id: int | None = None) -> Outcome:
        event = message_event(
            self.user,
            self.chat_id,
            text,
            chat_type="supergroup",
            message_id=next(self._ids),
            thread_id=thread_id,
        )
        self.last = await self.conversation.handle(event)
        return self.last

    async def press(self, data: str, message_id: int) -> Outcome:
        event = button_event(
            self.user,
            self.chat_id,
            data,
            callback_id="cb",
            message_id=message_id,
            chat_type="supergroup",
        )
        self.last = await self.conversation.handle(event)
        return self.last

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.last.replies]
