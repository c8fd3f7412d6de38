"""Telegram's sending limits shared by every process on one PostgreSQL database.

Messages nobody just asked for (receipts and reminders of the sweeps, staff alerts) may leave
any of several bot processes; Telegram counts them per bot. Before such a message is sent, its
process takes a place in `outbound_sends`: at most `global_per_second` messages in any
`global_window_seconds` (a little over one second, so that network jitter cannot make two
messages look closer to Telegram than they were), one a second per private chat, and
`group_per_minute` a minute per group. Places are handed out one at a time under a PostgreSQL
advisory lock, so two processes never both take the last place of a window; a process that
finds the window full waits until its oldest place falls out of it. A place is three round
trips after its transaction's BEGIN: the lock, the windows read and the place taken in one
statement, the commit.

Why the database and not Redis: it is already shared by every process, a place costs one short
transaction (a few a second at most, far from any bottleneck), and no second service is needed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# pg_advisory_xact_lock(namespace, 0): the one lock every process takes to hand out places.
LOCK_NAMESPACE = 1_633_771_874
KEEP_SECONDS = 120
CLEAN_EVERY = 500
# A full window is asked again at least this often (another process may have given up a place).
MIN_WAIT_SECONDS = 0.005

LOCK = text("SELECT pg_advisory_xact_lock(:namespace, 0)")
# What the windows hold now, and the place taken in the same statement when both have room
# (`taken`); under the lock, taken by an earlier statement so that this one's snapshot sees
# every place the last holder took.
TAKE_IF_FREE = text(
    "WITH now AS (SELECT clock_timestamp() AS at),"
    " seen AS (SELECT now.at,"
    "  (SELECT count(*) FROM outbound_sends s"
    "    WHERE s.at > now.at - make_interval(secs => :gw)) AS sent,"
    "  (SELECT min(s.at) FROM outbound_sends s"
    "    WHERE s.at > now.at - make_interval(secs => :gw)) AS oldest,"
    "  (SELECT count(*) FROM outbound_sends s"
    "    WHERE s.chat_id = :chat_id AND s.at > now.at - make_interval(secs => :cw)) AS to_chat,"
    "  (SELECT min(s.at) FROM outbound_sends s"
    "    WHERE s.chat_id = :chat_id AND s.at > now.at - make_interval(secs => :cw))"
    "   AS oldest_to_chat"
    "  FROM now),"
    " took AS (INSERT INTO outbound_sends (chat_id, at)"
    "  SELECT :chat_id, seen.at FROM seen"
    "  WHERE seen.sent < :global_limit AND seen.to_chat < :chat_limit RETURNING at)"
    " SELECT seen.at, seen.sent, seen.oldest, seen.to_chat, seen.oldest_to_chat,"
    " EXISTS (SELECT FROM took) AS taken"
    " FROM seen"
)
CLEAN = text(
    f"DELETE FROM outbound_sends WHERE at < clock_timestamp() - interval '{KEEP_SECONDS} seconds'"
)


@dataclass(frozen=True)
class SharedLimits:
    global_per_second: int = 30
    chat_per_second: int = 1
    group_per_minute: int = 20
    # A paid broadcast's messages (allow_paid_broadcast): this many in the same window, every
    # message counted; an unpaid message still finds its place only under `global_per_second`.
    paid_per_second: int = 1000
    # Counted over a little more than a second: the network's jitter is on Telegram's side.
    global_window_seconds: float = 1.1
    chat_window_seconds: float = 1.1
    group_window_seconds: float = 61.0


class PostgresOutboundLimiter:
    """Places for unasked messages, shared by every process (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, limits: SharedLimits | None = None) -> None:
        self._engine = engine
        self.limits = limits or SharedLimits()
        self._taken = 0

    async def acquire(self, chat_id: int, *, paid: bool = False) -> None:
        """Wait until one more message to `chat_id` keeps every limit across processes (a paid
        broadcast's message: the higher paid rate); the place is then taken (from now)."""
        while True:
            wait = await self.try_now(chat_id, paid)
            if wait is None:
                return
            await asyncio.sleep(max(wait, MIN_WAIT_SECONDS))

    async def try_now(self, chat_id: int, paid: bool = False) -> float | None:
        """Take a place now (None), or the seconds until one may be free."""
        limits = self.limits
        global_limit = limits.paid_per_second if paid else limits.global_per_second
        group = chat_id < 0
        chat_limit = limits.group_per_minute if group else limits.chat_per_second
        chat_window = limits.group_window_seconds if group else limits.chat_window_seconds
        async with self._engine.begin() as connection:
            await connection.execute(LOCK, {"namespace": LOCK_NAMESPACE})
            now, sent, oldest, to_chat, oldest_to_chat, taken = (
                await connection.execute(
                    TAKE_IF_FREE,
                    {
                        "gw": limits.global_window_seconds,
                        "cw": chat_window,
                        "chat_id": chat_id,
                        "global_limit": global_limit,
                        "chat_limit": chat_limit,
                    },
                )
            ).one()
            if not taken:
                waits = []
                if sent >= global_limit:
                    waits.append(_until(oldest, limits.global_window_seconds, now))
                if to_chat >= chat_limit:
                    waits.append(_until(oldest_to_chat, chat_window, now))
                return max(waits)
            self._taken += 1
            if self._taken % CLEAN_EVERY == 0:
                await connection.execute(CLEAN)
        return None


def _until(oldest: datetime, window: float, now: datetime) -> float:
    """Seconds until `oldest` falls out of the window."""
    return (oldest - now).total_seconds() + window
