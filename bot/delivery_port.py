"""The one way out for messages nobody just asked for (reminders, outcomes, staff alerts).

`DeliveryPort` wraps the outbound port of the running front end with Telegram's limits:

* at most `global_per_second` messages a second overall (a paid broadcast's message, sent with
  `allow_paid_broadcast`: `paid_per_second`, every message counted alike), `chat_per_second` a
  second per private chat and `group_per_minute` a minute per group. Each limit is a sliding
  window counted from the moment Telegram *answered* each message (a message still on its way
  holds its place), so network jitter can never make two messages look closer together to
  Telegram than allowed;
* a 429 pauses only that chat for its `retry_after` (and every chat only when several chats are
  refused at once: the bot as a whole is too fast), then the message is tried again;
* a 5xx, a timeout or a network error is tried again after a delay that doubles each time;
* after `max_attempts` failed attempts the message is dead-lettered with the reason;
* a 403 (blocked) or a 400 (rejected) is final at once.

A caller that must record a sent message (an outbox) passes `settle`: it runs right after the
attempt that ended the message, and a cancellation arriving meanwhile waits for both, so a
stopped task never leaves a message sent but unrecorded.

With several processes two more gates stand before each attempt: the `fence` (does this process
still hold the scheduler lease? a process that lost it while it was paused sends nothing more:
the message is answered "try again" at once, and the new holder sends it) and the `shared`
limiter (Telegram's limits kept by every process together).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.delivery import SharedLimiter
from domain.observations import UNOBSERVED, Observations
from handlers.contract import (
    Delivery,
    DeliveryStatus,
    MessageDeleter,
    MessageEditor,
    Notifier,
    Reply,
    TopicOpener,
)
from handlers.outbound import Settle, finish_even_if_cancelled

log = logging.getLogger(__name__)
DEAD = "dead-lettered"
FINAL = (DeliveryStatus.SENT, DeliveryStatus.BLOCKED, DeliveryStatus.REJECTED)
# Chats refused with a 429 within this many seconds that mean "the whole bot is too fast".
GLOBAL_FLOOD_CHATS = 3
GLOBAL_FLOOD_WINDOW = 1.0


@dataclass(frozen=True)
class DeliveryLimits:
    global_per_second: int = 30
    chat_per_second: int = 1
    group_per_minute: int = 20
    max_attempts: int = 5
    retry_seconds: float = 1.0
    max_retry_seconds: float = 60.0
    # A paid broadcast's messages: Telegram takes up to 1000 a second, each one beyond the free
    # `global_per_second` paid in Stars. An unpaid message keeps to `global_per_second`.
    paid_per_second: int = 1000


@dataclass(frozen=True)
class DeadLetter:
    chat_id: int
    text: str
    reason: str
    attempts: int


class SlidingWindow:
    """At most `limit` events in any `window` seconds, counting an event from when it ended;
    an event under way holds a place until it ends."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._ended: deque[float] = deque()
        self.under_way = 0

    def free_at(self, now: float, limit: int | None = None) -> float:
        """The earliest moment one more event may start (infinity: wait for one to end), with
        at most `limit` (this window's own when None) in any `window` seconds."""
        while self._ended and self._ended[0] <= now - self.window:
            self._ended.popleft()
        over = len(self._ended) + self.under_way - (self.limit if limit is None else limit) + 1
        if over <= 0:
            return now
        if over > len(self._ended):
            return float("inf")
        return self._ended[over - 1] + self.window

    def start(self) -> None:
        self.under_way += 1

    def end(self, at: float) -> None:
        self.under_way -= 1
        self._ended.append(at)

    @property
    def idle(self) -> bool:
        return self.under_way == 0 and not self._ended


class RateLimiter:
    """Telegram's limits for one bot, in one process (all front ends and sweeps share it)."""

    def __init__(self, limits: DeliveryLimits, clock: Callable[[], float] = time.monotonic):
        self._limits = limits
        self._clock = clock
        self._global = SlidingWindow(limits.global_per_second, 1.0)
        self._chats: dict[int, SlidingWindow] = {}
        self._paused: dict[int, float] = {}
        self._all_paused_until = 0.0
        self._recent_floods: deque[tuple[float, int]] = deque()
        self._changed = asyncio.Event()
        self._acquired = 0

    def _chat(self, chat_id: int) -> SlidingWindow:
        window = self._chats.get(chat_id)
        if window is None:
            if chat_id < 0:
                window = SlidingWindow(self._limits.group_per_minute, 60.0)
            else:
                window = SlidingWindow(self._limits.chat_per_second, 1.0)
            self._chats[chat_id] = window
        return window

    def _free_at(self, chat_id: int, now: float, paid: bool = False) -> float:
        limit = self._limits.paid_per_second if paid else None
        return max(
            self._global.free_at(now, limit),
            self._chat(chat_id).free_at(now),
            self._paused.get(chat_id, 0.0),
            self._all_paused_until,
        )

    async def acquire(self, chat_id: int, *, paid: bool = False) -> None:
        """Wait until one more message to `chat_id` keeps every limit (a paid broadcast's
        message: the paid rate overall); it is then under way until `release`."""
        while True:
            now = self._clock()
            at = self._free_at(chat_id, now, paid)
            if at <= now:
                self._global.start()
                self._chat(chat_id).start()
                self._acquired += 1
                if self._acquired % 1000 == 0:
                    self._forget_idle_chats(now)
                return
            self._changed.clear()
            if at == float("inf"):
                await self._changed.wait()
            else:
                await asyncio.sleep(at - now)

    def release(self, chat_id: int) -> None:
        now = self._clock()
        self._global.end(now)
        self._chat(chat_id).end(now)
        self._changed.set()

    def refused(self, chat_id: int, retry_after: float) -> None:
        """Telegram answered 429: this chat waits; every chat waits when several were refused."""
        now = self._clock()
        self._paused[chat_id] = max(self._paused.get(chat_id, 0.0), now + retry_after)
        self._recent_floods.append((now, chat_id))
        while self._recent_floods and self._recent_floods[0][0] < now - GLOBAL_FLOOD_WINDOW:
            self._recent_floods.popleft()
        if len({chat for _, chat in self._recent_floods}) >= GLOBAL_FLOOD_CHATS:
            self._all_paused_until = max(self._all_paused_until, now + retry_after)
            log.warning("several chats refused at once: every chat waits %.1f s", retry_after)

    def _forget_idle_chats(self, now: float) -> None:
        for chat_id in [c for c, w in self._chats.items() if w.free_at(now) <= now and w.idle]:
            del self._chats[chat_id]
        for chat_id in [c for c, until in self._paused.items() if until <= now]:
            del self._paused[chat_id]


NOT_THE_HOLDER = "this process no longer holds the scheduler lease"
# A fence that said yes is believed this long (a process frozen longer asks again).
FENCE_FRESH_SECONDS = 1.0


class LeaseFence:
    """Whether this process may still send the sweeps' messages: `holds` (the scheduler lease,
    renewed by asking) asked at most once every `fresh_seconds` while it says yes."""

    def __init__(
        self,
        holds: Callable[[], Awaitable[bool]],
        *,
        fresh_seconds: float = FENCE_FRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._holds = holds
        self._fresh = fresh_seconds
        self._clock = clock
        self._yes_at: float | None = None

    async def allows(self) -> bool:
        now = self._clock()
        if self._yes_at is not None and now - self._yes_at < self._fresh:
            return True
        held = await self._holds()
        self._yes_at = self._clock() if held else None
        return held


class DeliveryPort:
    """A `Notifier` that keeps Telegram's limits, retries, and dead-letters (see the module)."""

    def __init__(
        self,
        target: Notifier,
        limits: DeliveryLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        dead_letter_capacity: int = 1000,
        shared: SharedLimiter | None = None,
        fence: LeaseFence | None = None,
        observed: Observations = UNOBSERVED,
    ) -> None:
        self._target = target
        # Told each message's end (sent, blocked, rejected, dead-lettered) and each 429.
        self.observed = observed
        self.limits = limits or DeliveryLimits()
        self.limiter = RateLimiter(self.limits, clock)
        self.dead_letters: deque[DeadLetter] = deque(maxlen=dead_letter_capacity)
        self.shared = shared
        self.fence = fence

    async def _take_place(self, chat_id: int, paid: bool = False) -> Delivery | None:
        """Wait for the message's place within every limit (None: taken, send it now), or why
        it may not be sent now (the place is then not held). A paid broadcast's message
        (`paid`) keeps to the higher paid rate overall."""
        if self.fence is not None and not await self.fence.allows():
            return Delivery(DeliveryStatus.RETRY, reason=NOT_THE_HOLDER)
        await self.limiter.acquire(chat_id, paid=paid)
        if self.shared is None:
            return None
        try:
            await self.shared.acquire(chat_id, paid=paid)
        except BaseException as error:
            self.limiter.release(chat_id)
            if not isinstance(error, Exception):
                raise
            log.warning("the limits shared by every process cannot be read: %r", error)
            return Delivery(DeliveryStatus.RETRY, reason=f"shared limits: {error!r}")
        return None

    async def send(self, chat_id: int, reply: Reply, *, settle: Settle | None = None) -> Delivery:
        """Send `reply` to `chat_id` within the limits, trying again while that can help."""
        failures = 0
        while True:
            refused = await self._take_place(chat_id, reply.paid_broadcast)
            if refused is not None:
                return refused  # not sent, and not counted: the sweep tries again later
            delivery = await finish_even_if_cancelled(
                self._attempt(chat_id, reply, failures, settle)
            )
            if delivery.status in FINAL or delivery.reason.startswith(DEAD):
                dead = delivery.status not in FINAL
                self.observed.delivery("dead_lettered" if dead else delivery.status.value)
                return delivery
            failures += 1
            if delivery.status is DeliveryStatus.RATE_LIMITED:
                # The limiter makes the chat wait; nothing else does.
                continue
            delay = min(
                self.limits.retry_seconds * 2 ** (failures - 1), self.limits.max_retry_seconds
            )
            await asyncio.sleep(delay)

    async def open_topic(self, chat_id: int, name: str) -> int | None:
        """Open a forum topic in `chat_id` (a ticket's own topic in the staff chat), within the
        chat's limits like any message; None when the front end cannot or Telegram refused."""
        if not isinstance(self._target, TopicOpener):
            return None
        if await self._take_place(chat_id) is not None:
            return None
        try:
            return await self._target.open_topic(chat_id, name)
        finally:
            self.limiter.release(chat_id)

    async def remove_message(self, chat_id: int, message_id: int) -> Delivery:
        """Delete a message sent earlier (a broadcast sent by mistake), within the chat's
        limits like any message; tried once: the caller (a sweep) tries again when that helps."""
        if not isinstance(self._target, MessageDeleter):
            return Delivery(DeliveryStatus.REJECTED, reason="this front end cannot delete")
        refused = await self._take_place(chat_id)
        if refused is not None:
            return refused
        try:
            delivery = await self._target.remove_message(chat_id, message_id)
        finally:
            self.limiter.release(chat_id)
        if delivery.status is DeliveryStatus.RATE_LIMITED:
            self.limiter.refused(chat_id, delivery.retry_after or 1.0)
        return delivery

    async def edit_message(self, chat_id: int, message_id: int, reply: Reply) -> Delivery:
        """Edit a message sent earlier (a ticket's card), within the chat's limits like any
        message; tried once: the caller (a sweep) tries again later when that can help."""
        if not isinstance(self._target, MessageEditor):
            return Delivery(DeliveryStatus.REJECTED, reason="this front end cannot edit")
        refused = await self._take_place(chat_id)
        if refused is not None:
            return refused
        try:
            delivery = await self._target.edit_message(chat_id, message_id, reply)
        finally:
            self.limiter.release(chat_id)
        if delivery.status is DeliveryStatus.RATE_LIMITED:
            self.limiter.refused(chat_id, delivery.retry_after or 1.0)
        return delivery

    async def _attempt(
        self, chat_id: int, reply: Reply, failures: int, settle: Settle | None
    ) -> Delivery:
        try:
            delivery = await self._target.send(chat_id, reply)
        except Exception as error:  # a notifier that raises is a network failure to us
            log.exception("sending to chat %s failed", chat_id)
            delivery = Delivery(DeliveryStatus.RETRY, reason=repr(error))
        finally:
            self.limiter.release(chat_id)
        if delivery.status is DeliveryStatus.RATE_LIMITED:
            self.observed.too_many_requests()
            self.limiter.refused(chat_id, delivery.retry_after or 1.0)
        if delivery.status not in FINAL and failures + 1 >= self.limits.max_attempts:
            reason = (
                f"{DEAD} after {failures + 1} attempts: {delivery.status.value} {delivery.reason}"
            )
            delivery = Delivery(delivery.status, reason=reason.strip())
            self.dead_letters.append(DeadLetter(chat_id, reply.text, reason, failures + 1))
            log.warning("chat %s: %s", chat_id, reason)
        if settle is not None and (delivery.status in FINAL or delivery.reason.startswith(DEAD)):
            await settle(delivery)
        return delivery
