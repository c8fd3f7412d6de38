"""The outbound port as a sweep that keeps an outbox sees it: a message is sent and then
recorded (`settle`) as one step that a cancellation cannot cut in half."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from handlers.contract import Delivery, Reply

T = TypeVar("T")
Settle = Callable[[Delivery], Awaitable[None]]


class SettlingNotifier(Protocol):
    """A notifier that runs `settle` with the final delivery of the message right after the
    attempt that ended it, before a cancellation of the caller takes effect."""

    async def send(
        self, chat_id: int, reply: Reply, *, settle: Settle | None = None
    ) -> Delivery: ...


async def finish_even_if_cancelled(work: Awaitable[T]) -> T:
    """Run `work` to its end even when the caller is cancelled meanwhile; the cancellation is
    then passed on. For a step that must not be cut in half (send, then record it sent)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])
        raise
