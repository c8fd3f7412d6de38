"""That a message was sent is recorded even when the database went away just after the send.

A receipt is claimed before it is sent and marked told once Telegram took it. When that mark
cannot be written (the database vanished between the send and the write), forgetting it would
let the claim lapse and a sweep send the receipt again. Instead the write is kept here, in this
process, and tried again (every 0.1 s doubling to 1 s) until the database takes it; meanwhile
this process claims the same receipt no more, and its order sweep writes what is pending before
it looks for anything to tell. Only a process that dies with a write still pending (kill -9,
a power cut) leaves the claim to lapse: see the README ("Reminders and outbound delivery").
Every message recorded after it is sent goes through the process's one `PendingRecords`
(`Services.pending_records`): receipts, reminders, pushes, notices and staff alerts, ticket
messages and the daily digest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[object]]
Sleep = Callable[[float], Awaitable[None]]

FIRST_DELAY = 0.1
MAX_DELAY = 1.0
# A living process writes what it kept within about MAX_DELAY of the database answering again.
# A claim of another process that lapsed meanwhile is taken over only by a process that has been
# in touch with the database for this long without a break (ten times as long: a database just
# back may be slow to answer every process at once).
WRITTEN_WITHIN = timedelta(seconds=10 * MAX_DELAY)
# Before any claim was made: a claim "lapsed by" this moment is none.
_NO_CLAIM = datetime(1970, 1, 1, tzinfo=UTC)


def lapsed_by(now: datetime, take_over: bool) -> datetime:
    """The moment by which a claim must have lapsed to be taken from the process that held it:
    `now`; or, for a sweep that may not take over lapsed claims yet (it has not been in touch
    with the database for `WRITTEN_WITHIN`), never: only what nobody claimed is taken."""
    return now if take_over else _NO_CLAIM


class PendingRecords:
    """Writes that must not be lost (what was sent), each by a key (the order's receipt);
    retried in the background until they succeed."""

    def __init__(
        self,
        *,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._pending: dict[Hashable, Write] = {}  # oldest first
        self._retrying: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    def pending(self, key: Hashable) -> bool:
        """Whether the write of `key` waits for the database."""
        return key in self._pending

    @property
    def count(self) -> int:
        return len(self._pending)

    async def record(self, key: Hashable, write: Write) -> bool:
        """Run `write`; True when it was written now. When it fails it is kept (in place of any
        write of `key` still pending) and tried again until it succeeds; False."""
        if key in self._pending:
            self._pending[key] = write  # the newer write of the same thing
            return False
        try:
            await write()
        except Exception as error:
            self._pending[key] = write
            log.warning(
                "recording %s failed (%s): kept, and written as soon as the database takes it",
                key,
                type(error).__name__,
            )
            log.debug("recording %s failed", key, exc_info=error)
            self._retry_in_background()
            return False
        return True

    async def flush(self) -> None:
        """Write every pending record now, oldest first; raises the first failure (it and the
        rest stay pending)."""
        async with self._flushing:
            for key, write in list(self._pending.items()):
                await write()
                if self._pending.get(key) is write:
                    del self._pending[key]
                log.info("recorded %s, kept while the database was away", key)

    def _retry_in_background(self) -> None:
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        delay = self._first_delay
        while self._pending:
            await self._sleep(delay)
            try:
                await self.flush()
            except Exception as error:
                log.debug("pending records still not written", exc_info=error)
                delay = min(delay * 2, self._max_delay)

    async def close(self) -> None:
        """A last try at what is pending, then stop retrying; what is left is logged (its
        claims lapse, and those receipts may be sent again)."""
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
            self._retrying = None
        if not self._pending:
            return
        try:
            await self.flush()
        except Exception as error:
            log.error(
                "%d records of what was sent were never written (%s): %s",
                len(self._pending),
                type(error).__name__,
                ", ".join(str(key) for key in self._pending),
            )


__all__ = ["WRITTEN_WITHIN", "PendingRecords", "lapsed_by"]
