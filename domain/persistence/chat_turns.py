"""One chat's turn across processes, on PostgreSQL.

Several webhook workers share one database; Telegram may post two updates of one chat to two
of them at once. Each update is recorded when it arrives (`chat_updates`), and its turn holds
a PostgreSQL advisory lock on the chat (the session's, on one connection) for as long as the
update is handled:

- two updates of one chat never run at the same time, whichever worker got them; different
  chats take different locks and run side by side;
- an update that got the lock while an older update of its chat is still waiting (recorded
  within the last `wait_seconds`, the longest any update waits for its turn, and not done)
  lets it go first, so a chat's updates run in update-id order;
- an update already marked done (Telegram posted it again) is not worked twice;
- the done mark is written before the lock is released, and whoever takes the lock next for
  the same update reads that update's record through a row lock, so it waits for the mark's
  commit and sees it; a worker that dies mid-turn loses its connection, PostgreSQL releases
  the lock and nothing is marked: the update runs again when Telegram resends it;
- an update that cannot take its turn within `wait_seconds` (or finds the database away)
  raises `ChatTurnBusy`: the webhook answers non-2xx and Telegram delivers it again later;
  `DatabaseBusy` (a `ChatTurnBusy`) when no connection of the pool came free in time.

What a turn sends. A chat nobody else is working on (the usual case) costs two statements on
one connection: `ENTER` records the update, tries the chat's lock without waiting and reads
whether the update was done and whether an older one waits, in one round trip; `FINISH` marks
the update done and releases the lock, in one more. Only when the lock is held elsewhere does
the turn wait for it (`LOCK`) and then read again (`RECHECK`, after the lock: it sees what the
last holder committed). An update that must first wait in this process (its chat's lane is
busy, or every place for a turn is taken) is recorded at once on a connection of its own
(`ARRIVED`), so that a newer update of its chat in another process lets it go first; updates
that come to wait while that statement is under way are recorded together by the next one
(one statement, one connection for all of them: under load most updates wait for a place).

The turn's own units of work run on the connection that holds the lock (it is lent to them:
`domain.persistence.turn_connection`), between `ENTER` and `FINISH`: a turn takes one
connection from the pool, and its done mark is written after everything it committed.

Why the database and not Redis: the lock lives exactly as long as its holder's connection (no
expiry to guess: a turn longer than a Redis key's time to live would let a second turn in, a
shorter turn's crash would keep the chat locked until the key expires), the done mark and the
release go in one statement, and no second service is needed. Its price is one connection per
turn being handled (the one its work runs on), bounded by `concurrent`:
`tests/bench/chat_turns.py` measures it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import ChatTurnBusy, DatabaseBusy
from domain.persistence.turn_connection import lend

log = logging.getLogger(__name__)

T = TypeVar("T")

# The first key of every chat lock (the session's pg_advisory_lock(int, int)): chats never meet
# other locks.
LOCK_NAMESPACE = 1_633_771_873
LOCK_NOT_AVAILABLE = "55P03"
# How long an update that let an older one go first waits before it asks for the lock again.
YIELD_SECONDS = 0.005
# Records older than this are deleted (Telegram gives up resending long before).
KEEP_DAYS = 2
CLEAN_EVERY = 1000

# The record's own statements commit without waiting for the disk (synchronous_commit off for
# that one transaction): other processes see them at once all the same, and a record lost to a
# database crash only means a resent update may be worked again (each money step is idempotent
# by its own keys). Money and orders keep their durable commits.
NO_FLUSH = "(SELECT set_config('synchronous_commit', 'off', true)) AS no_flush"
# Every update that came to wait in this process since the last such statement was sent, in one.
ARRIVED = text(
    "INSERT INTO chat_updates (update_id, chat_id, received_at)"
    " SELECT arrived.update_id, arrived.chat_id, now()"
    " FROM unnest(CAST(:update_ids AS BIGINT[]), CAST(:chat_ids AS BIGINT[]))"
    f" AS arrived(update_id, chat_id), {NO_FLUSH} ON CONFLICT (update_id) DO NOTHING"
)
CLEAN = text(f"DELETE FROM chat_updates WHERE received_at < now() - interval '{KEEP_DAYS} days'")
# An update of the chat older than this one, recorded lately and not done: it goes first.
OLDER_WAITING = (
    "EXISTS (SELECT 1 FROM chat_updates AS older WHERE older.chat_id = :chat_id"
    " AND older.update_id < :update_id AND older.done_at IS NULL"
    " AND older.received_at > now() - make_interval(secs => :window))"
)
# The update's record, written or (recorded before) locked: ON CONFLICT DO UPDATE reads the
# newest committed version of the row, waiting for a transaction that is writing it, so a done
# mark committed after this statement's snapshot was taken is seen all the same.
RECORD = (
    "INSERT INTO chat_updates AS record (update_id, chat_id, received_at)"
    " SELECT :update_id, :chat_id, now() FROM {source}"
    " ON CONFLICT (update_id) DO UPDATE SET chat_id = excluded.chat_id"
)
# One round trip: the chat's lock tried without waiting (evaluated first: the record's row is
# its input), the update recorded, and what the turn must know. The older-update check reads
# this statement's snapshot, taken before the lock was tried; an older update recorded by then
# is seen, one recorded meanwhile arrived together with this one (no order between them).
ENTER = text(
    "WITH attempt AS MATERIALIZED ("
    f"SELECT pg_try_advisory_lock(:namespace, :key) AS granted FROM {NO_FLUSH})"
    f" {RECORD.format(source='attempt')}"
    f" RETURNING (SELECT granted FROM attempt), record.done_at IS NOT NULL, {OLDER_WAITING}"
)
# Waiting for a lock held elsewhere: its time limit set first (in the subquery), then the lock
# waited for; the release resets the limit, so a pooled connection keeps nothing of a turn.
LOCK = text(
    "SELECT pg_advisory_lock(:namespace, :key)"
    " FROM (SELECT set_config('lock_timeout', :timeout, false)) AS time_limit"
)
# After waiting: a statement of its own, so it sees what the last holder committed.
RECHECK = text(
    f"{RECORD.format(source=NO_FLUSH)} RETURNING record.done_at IS NOT NULL, {OLDER_WAITING}"
)
UNLOCK = text("SELECT pg_advisory_unlock(:namespace, :key), set_config('lock_timeout', '0', false)")
# The done mark, then the release, in one statement: the aggregate over the update's result
# runs the update (its row locked until the commit) before the lock is released. A resend
# granted the lock in between waits on that row (ENTER, RECHECK) and sees the mark.
FINISH = text(
    "WITH marked AS (UPDATE chat_updates SET done_at = clock_timestamp()"
    f" FROM {NO_FLUSH} WHERE update_id = :update_id RETURNING 1)"
    " SELECT pg_advisory_unlock(:namespace, :key), set_config('lock_timeout', '0', false)"
    " FROM (SELECT count(*) FROM marked) AS marked"
)


def lock_key(chat_id: int) -> int:
    """The chat's 32-bit lock key (two chats rarely share one; if they do, they take turns)."""
    folded = (chat_id ^ (chat_id >> 32)) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


class _Held:
    """A granted turn: its connection holds the chat's lock until `finish` or `close`."""

    def __init__(self, connection: AsyncConnection | None, update_id: int, key: int) -> None:
        self.connection = connection
        self.update_id = update_id
        self.key = key
        self.released = False

    @property
    def done(self) -> bool:
        """The update was worked before (a resend): nothing to do."""
        return self.connection is None

    async def finish(self) -> None:
        """Mark the update done and release the lock, in one statement (`FINISH`)."""
        assert self.connection is not None
        await self.connection.execute(
            FINISH, {"update_id": self.update_id, "namespace": LOCK_NAMESPACE, "key": self.key}
        )
        self.released = True

    async def close(self) -> None:
        """Release the lock (unless `finish` did); a connection that cannot say so (the
        database went away, or a statement of the turn already found it broken) is dropped,
        which releases it."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        if not self.released:
            try:
                await connection.execute(UNLOCK, {"namespace": LOCK_NAMESPACE, "key": self.key})
            except (SQLAlchemyError, OSError):
                with suppress(SQLAlchemyError, OSError):
                    await connection.invalidate()
        with suppress(SQLAlchemyError, OSError):
            await connection.close()


class _Arrivals:
    """Updates waiting in this process, recorded as they come: the first at once, those that
    come while a statement is under way together in the next one."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def record(self, chat_id: int, update_id: int) -> None:
        """Return once the update is recorded; `DatabaseBusy` when no connection came free,
        `ChatTurnBusy` when the database did not record it."""
        recorded = asyncio.get_running_loop().create_future()
        self._waiting.append((update_id, chat_id, recorded))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        await recorded

    async def _send(self) -> None:
        batch: list[tuple[int, int, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._insert([update for update, _, _ in batch], [c for _, c, _ in batch])
                except Exception as error:
                    for _, _, recorded in batch:
                        if not recorded.done():
                            recorded.set_exception(_not_recorded(error))
                else:
                    for _, _, recorded in batch:
                        if not recorded.done():
                            recorded.set_result(None)
        finally:
            # Stopped (the process is stopping): nobody is left waiting for an answer.
            for _, _, recorded in batch + self._waiting:
                recorded.cancel()
            self._waiting = []
            self._sender = None

    async def _insert(self, update_ids: list[int], chat_ids: list[int]) -> None:
        async with self._engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(ARRIVED, {"update_ids": update_ids, "chat_ids": chat_ids})


def _not_recorded(error: Exception) -> Exception:
    """What a waiting update is told when its arrival could not be recorded."""
    if isinstance(error, PoolTimeout):
        return DatabaseBusy("no connection came free to record the update")
    if isinstance(error, DBAPIError | OSError):
        return ChatTurnBusy(f"the database did not record the update ({error})")
    return error


class PostgresChatTurns:
    """Per-chat turns shared by every process on one PostgreSQL database (module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        wait_seconds: float = 10.0,
        concurrent: int = 20,
    ) -> None:
        self._engine = engine
        self.wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(concurrent)
        self._entered = 0
        self._arrivals = _Arrivals(engine)

    @asynccontextmanager
    async def turn(self, chat_id: int, update_id: int, lane: asyncio.Lock) -> AsyncIterator[bool]:
        """Hold the chat's turn (this process's `lane` first, then the database lock) while the
        body runs; yields False when the update was already worked. Raises `ChatTurnBusy` when
        the turn cannot be had within `wait_seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        if lane.locked() or self._slots.locked():
            # It waits in this process first: recorded now, so that it is seen waiting.
            await self._arrivals.record(chat_id, update_id)
        while True:
            await _within(deadline, lane.acquire())
            try:
                held = await self._enter(chat_id, update_id, deadline)
            except BaseException:
                lane.release()
                raise
            if held is not None:
                break
            lane.release()
            await asyncio.sleep(YIELD_SECONDS)
        try:
            if held.done:
                yield False
            else:
                assert held.connection is not None
                with lend(held.connection):
                    yield True
                try:
                    await held.finish()
                except (DBAPIError, OSError) as error:
                    # Not recorded as worked: Telegram delivers it again, and it runs again.
                    raise ChatTurnBusy(f"the database did not record the turn ({error})") from error
        finally:
            try:
                await held.close()
            finally:
                self._slots.release()
                lane.release()

    async def _enter(self, chat_id: int, update_id: int, deadline: float) -> _Held | None:
        """The granted turn; None when an older update of the chat waits (let it go first)."""
        await _within(deadline, self._slots.acquire())
        held: _Held | None = None
        try:
            connection = await _within(deadline, self._engine.connect())
            # Each statement its own transaction: the lock is the session's, held until FINISH.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            held = _Held(connection, update_id, lock_key(chat_id))
            self._entered += 1
            if self._entered % CLEAN_EVERY == 0:
                await connection.execute(CLEAN)
            turn = {
                "namespace": LOCK_NAMESPACE,
                "key": held.key,
                "update_id": update_id,
                "chat_id": chat_id,
                # An older update recorded longer ago than any update waits has given up.
                "window": self.wait_seconds,
            }
            granted, done, older_waiting = (await connection.execute(ENTER, turn)).one()
            if not granted:
                remaining = deadline - asyncio.get_running_loop().time()
                timeout = f"{max(1, int(remaining * 1000))}ms"
                await connection.execute(
                    LOCK, {"namespace": LOCK_NAMESPACE, "key": held.key, "timeout": timeout}
                )
                done, older_waiting = (await connection.execute(RECHECK, turn)).one()
        except ChatTurnBusy:
            await self._give_back(held)
            raise
        except PoolTimeout as error:
            await self._give_back(held)
            raise DatabaseBusy("no connection came free for the chat's turn") from error
        except (DBAPIError, OSError) as error:
            await self._give_back(held)
            if getattr(getattr(error, "orig", None), "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise ChatTurnBusy(f"chat {chat_id} stayed busy") from error
            raise ChatTurnBusy(f"the database did not answer ({error})") from error
        except BaseException:
            await self._give_back(held)
            raise
        if older_waiting and not done:
            await self._give_back(held)
            return None
        if done:
            await held.close()  # keeps the slot: released when the turn ends
        return held

    async def _give_back(self, held: _Held | None) -> None:
        if held is not None:
            await held.close()
        self._slots.release()


async def _within(deadline: float, waiting: Awaitable[T]) -> T:
    """What `waiting` gives, or `ChatTurnBusy` once the turn's deadline has passed."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        if inspect.iscoroutine(waiting):
            waiting.close()
        raise ChatTurnBusy("no turn within the time allowed")
    try:
        async with asyncio.timeout(remaining):
            return await waiting
    except TimeoutError as error:
        raise ChatTurnBusy("no turn within the time allowed") from error
