"""A chat turn's start and end, as one line each in a file shared by every process of a load test.

`record_turns` wraps the shared turn handling (`handlers.chat_queues.ChatQueues.turn`, used by
both front ends): the start is taken once the turn was granted (the chat's lock held, in this
process or across processes), the end before it is released. Times are the wall clock, the same
for every process of the machine. A line: chat id, update id, whether the update was worked (0:
already worked, a resend), start, end, process id, and when the turn last looked for older updates
of its chat: the wall time its statement that looks (`ENTER`, or `RECHECK` after waiting for the
lock; `domain.persistence.chat_turns`) was sent, or its start when turns are not shared. The
database takes that statement's snapshot after it was sent, so an older update recorded before
then was there to be seen, however long the process then took to go on to the turn's start.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from handlers.chat_queues import Admission, ChatQueues


@dataclass(frozen=True)
class TurnRecord:
    chat_id: int
    update_id: int
    worked: bool
    start: float
    end: float
    process: int
    # When the turn last looked for older updates of its chat (see the module docstring).
    looked: float


def record_turns(
    path: str, profile: str | None = None, statements: str | None = None
) -> Callable[[], None]:
    """From now on every chat turn of this process is written to `path` (appended, one line a
    turn, written when the turn ends); until the function returned is called. With `profile`,
    the process's CPU time from its first turn on (start-up left out) is profiled into that
    file when the process exits. With `statements`, the statements the process sent to its
    database are counted by shape and written to that file when it exits (a line each: count,
    shape; most sent first; new connections and checkouts of the pool too)."""
    if statements is not None:
        count_statements(statements)
    looks = note_looks()
    out = Path(path).open("a", buffering=1, encoding="ascii")
    granted = ChatQueues.turn
    process = os.getpid()
    profiler = cProfile.Profile(time.process_time) if profile else None
    if profiler is not None and profile is not None:

        def write_profile() -> None:
            profiler.disable()
            profiler.dump_stats(profile)

        atexit.register(write_profile)

    started: list[bool] = []

    @asynccontextmanager
    async def recorded(
        self: ChatQueues, admission: Admission, update_id: int | None
    ) -> AsyncIterator[bool]:
        if profiler is not None and not started:
            started.append(True)
            profiler.enable()
        async with granted(self, admission, update_id) as fresh:
            start = time.time()
            looked = looks.pop(update_id, start) if update_id is not None else start
            try:
                yield fresh
            finally:
                out.write(
                    f"{admission.chat_id} {update_id or 0} {int(fresh)} {start:.6f}"
                    f" {time.time():.6f} {process} {looked:.6f}\n"
                )

    ChatQueues.turn = recorded  # type: ignore[method-assign]

    def stop() -> None:
        ChatQueues.turn = granted  # type: ignore[method-assign]
        out.close()

    return stop


def note_looks() -> dict[int, float]:
    """Update id to the wall time its turn last sent the statement that looks for older updates
    of its chat (`ENTER` or `RECHECK`), for every engine of this process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.default import DefaultExecutionContext

    from domain.persistence.chat_turns import ENTER, RECHECK

    looks: dict[int, float] = {}

    def note(
        _conn: object,
        _cursor: object,
        _statement: str,
        _parameters: object,
        context: object,
        *_args: object,
    ) -> None:
        if not isinstance(context, DefaultExecutionContext) or context.compiled is None:
            return
        statement = context.compiled.statement
        if statement is ENTER or statement is RECHECK:
            looks[context.compiled_parameters[0]["update_id"]] = time.time()

    event.listen(Engine, "before_cursor_execute", note)
    return looks


# The lines of a statement count that are not statements.
NEW_CONNECTION = "(a new connection)"
CHECKOUT = "(a connection taken from the pool)"
ORM_SESSION = "(an ORM session's transaction)"
_NOT_STATEMENTS = {
    NEW_CONNECTION: "connections",
    CHECKOUT: "checkouts",
    ORM_SESSION: "orm_sessions",
}


def count_statements(path: str) -> None:
    """Count every statement of this process by shape; written to `path` at exit."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session
    from sqlalchemy.pool import Pool

    from tests.bench.recharge_throughput import statement_kind

    sent: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent[statement_kind(statement)] += 1

    def write() -> None:
        lines = [f"{n}\t{kind}" for kind, n in sent.most_common()]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def connected(*_args: object) -> None:
        sent[NEW_CONNECTION] += 1

    def checked_out(*_args: object) -> None:
        sent[CHECKOUT] += 1

    def orm_session(*_args: object) -> None:
        sent[ORM_SESSION] += 1

    event.listen(Engine, "before_cursor_execute", count)
    event.listen(Pool, "connect", connected)
    event.listen(Pool, "checkout", checked_out)
    event.listen(Session, "after_begin", orm_session)
    atexit.register(write)


@dataclass(frozen=True)
class DatabaseWork:
    """What processes sent to the database, summed over the files `count_statements` wrote:
    statements, pool checkouts, ORM sessions begun and connections opened."""

    statements: int = 0
    checkouts: int = 0
    orm_sessions: int = 0
    connections: int = 0


def database_work(paths: list[Path]) -> DatabaseWork:
    sums: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            count, _, shape = line.partition("\t")
            kind = _NOT_STATEMENTS.get(shape, "statements")
            sums[kind] += int(count)
    return DatabaseWork(**sums)


def read_turns(path: Path) -> list[TurnRecord]:
    records = []
    for line in path.read_text(encoding="ascii").splitlines():
        chat, update, worked, start, end, process, looked = line.split()
        records.append(
            TurnRecord(
                int(chat),
                int(update),
                worked == "1",
                float(start),
                float(end),
                int(process),
                float(looked),
            )
        )
    return records
