"""What one chat may hold of the bot: its updates one at a time, and only so many waiting.

Every front end hands each update to `ChatQueues.admit` before it handles it. Within a chat,
updates are handled one after another in arrival order (a customer's "/bind" and then their
number must see each other's state); different chats run side by side. A chat that already
holds `limit` updates (one being handled, the rest waiting) gets nothing more in: the update is
dropped, counted, and the first drop of a flood tells the customer once, politely, to slow down.
So one chat sending thousands of messages cannot take the bot away from everyone else.

A flood lasts while drops keep coming; `calm_seconds` without one ends it (logged with how many
updates were dropped), and a later flood is told again.

With several processes (webhook workers on one PostgreSQL database) a chat's turn is also
`shared`: once its turn in this process comes, the update takes the chat's turn across every
process (see `domain.persistence.chat_turns`), which may find it already worked (skip it) or
raise `ChatTurnBusy` (the webhook answers non-2xx; Telegram delivers the update again).

A turn whose conversation found no database connection free in time (`DatabaseBusy` before
anything was done) calls `ask_again()`: the turn then ends with `DatabaseBusy`, is not recorded
as worked, and the front end asks the customer to try again in a moment (`busy_reply`) and, in
webhook mode, answers non-2xx so that Telegram delivers the update again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from domain.chat_turn_log import chat_turn
from domain.errors import DatabaseBusy
from domain.languages import language_from_telegram
from handlers.contract import Reply
from handlers.i18n import texts

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 20
# A flood is over once the chat went this long without a dropped update.
CALM_SECONDS = 30.0
# Floods that ended quietly (the chat wrote nothing more) are closed every this many updates.
SWEEP_EVERY = 1000


def slow_down_reply(language_code: str | None) -> Reply:
    """The one message a flooding customer gets, in their Telegram client's language."""
    return Reply(texts(language_from_telegram(language_code))("flood.slow_down"))


def busy_reply(language_code: str | None) -> Reply:
    """What a customer is told when their update could not be worked for want of a database
    connection (it is delivered again, or they send it again)."""
    return Reply(texts(language_from_telegram(language_code))("busy.try_again"))


@dataclass
class _TurnMark:
    again: bool = False


_turn_mark: ContextVar[_TurnMark | None] = ContextVar("chat_turn_mark", default=None)


def ask_again() -> None:
    """The update of the turn under way did nothing for want of a database connection: the
    turn ends with `DatabaseBusy` (not recorded as worked) so it is delivered again."""
    mark = _turn_mark.get()
    if mark is not None:
        mark.again = True


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    held: int = 0  # updates of the chat being handled or waiting for their turn


@dataclass
class _Flood:
    last_drop: float
    dropped: int = 0


@dataclass(frozen=True)
class Admission:
    """What became of one update: taken (wait for `lock`, then `leave`), or dropped; a dropped
    one with `tell` is the first of a flood, and the customer is asked to slow down."""

    chat_id: int
    lock: asyncio.Lock | None
    tell: bool = False

    @property
    def taken(self) -> bool:
        return self.lock is not None


class SharedTurns(Protocol):
    """A chat's turn across processes, entered once this process's `lane` is free; yields
    False when the update was worked before (by any process)."""

    def turn(
        self, chat_id: int, update_id: int, lane: asyncio.Lock
    ) -> AbstractAsyncContextManager[bool]: ...


class ChatQueues:
    """Per-chat turns and bounds, shared by every front end (see the module docstring)."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        *,
        calm_seconds: float = CALM_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTurns | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("a chat must be able to hold at least one update")
        self.limit = limit
        self._calm = calm_seconds
        self._clock = clock
        self.shared = shared
        self._lanes: dict[int, _Lane] = {}
        self._floods: dict[int, _Flood] = {}
        # Updates dropped since start, over all chats (the counter the operators read).
        self.dropped = 0
        self._admitted = 0

    def admit(self, chat_id: int, *, always: bool = False) -> Admission:
        """Take the update into its chat's queue, or drop it when the queue is full. An update
        that must never be lost (a payment) is taken `always`, full or not."""
        self._admitted += 1
        if self._admitted % SWEEP_EVERY == 0:
            self.end_calm_floods()
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = self._lanes[chat_id] = _Lane()
            self._end_flood_if_calm(chat_id)
        if lane.held < self.limit or always:
            lane.held += 1
            return Admission(chat_id, lane.lock)
        return Admission(chat_id, None, tell=self._drop(chat_id))

    @asynccontextmanager
    async def turn(self, admission: Admission, update_id: int | None) -> AsyncIterator[bool]:
        """The taken update's turn in its chat (in this process, and across processes when the
        turns are shared); yields whether to handle it (False: already worked). Every line
        logged meanwhile names the update and the chat (`domain.chat_turn_log`)."""
        assert admission.lock is not None, "a dropped update has no turn"
        mark = _TurnMark()
        token = _turn_mark.set(mark)
        try:
            with chat_turn(admission.chat_id, update_id):
                if self.shared is None or update_id is None:
                    async with admission.lock:
                        yield True
                        _raise_if_asked_again(mark)
                    return
                async with self.shared.turn(admission.chat_id, update_id, admission.lock) as fresh:
                    yield fresh
                    _raise_if_asked_again(mark)
        finally:
            _turn_mark.reset(token)

    def leave(self, admission: Admission) -> None:
        """The update's turn is over (handled, failed or cancelled)."""
        if not admission.taken:
            return
        lane = self._lanes.get(admission.chat_id)
        if lane is None:
            return
        lane.held -= 1
        if lane.held <= 0:
            del self._lanes[admission.chat_id]
            self._end_flood_if_calm(admission.chat_id)

    def holding(self, chat_id: int) -> int:
        lane = self._lanes.get(chat_id)
        return lane.held if lane is not None else 0

    def flooding(self, chat_id: int) -> bool:
        return chat_id in self._floods

    def _drop(self, chat_id: int) -> bool:
        """Count one dropped update; True when it starts a flood (tell the customer)."""
        self.dropped += 1
        now = self._clock()
        flood = self._floods.get(chat_id)
        if flood is not None and now - flood.last_drop >= self._calm:
            self._end_flood(chat_id, flood)
            flood = None
        starts = flood is None
        if flood is None:
            flood = self._floods[chat_id] = _Flood(last_drop=now)
            log.warning(
                "chat %s is flooding the bot: updates beyond %s waiting are dropped",
                chat_id,
                self.limit,
            )
        flood.last_drop = now
        flood.dropped += 1
        return starts

    def _end_flood_if_calm(self, chat_id: int) -> None:
        flood = self._floods.get(chat_id)
        if flood is not None and self._clock() - flood.last_drop >= self._calm:
            self._end_flood(chat_id, flood)

    def end_calm_floods(self) -> None:
        """Close every flood that has been calm long enough (a housekeeping call)."""
        now = self._clock()
        for chat_id, flood in list(self._floods.items()):
            if chat_id not in self._lanes and now - flood.last_drop >= self._calm:
                self._end_flood(chat_id, flood)

    def _end_flood(self, chat_id: int, flood: _Flood) -> None:
        del self._floods[chat_id]
        log.warning(
            "chat %s stopped flooding: %s updates were dropped (%s in all since start)",
            chat_id,
            flood.dropped,
            self.dropped,
        )


def _raise_if_asked_again(mark: _TurnMark) -> None:
    if mark.again:
        raise DatabaseBusy("no database connection came free for the turn")


__all__ = [
    "Admission",
    "ChatQueues",
    "SharedTurns",
    "ask_again",
    "busy_reply",
    "slow_down_reply",
]
