"""A chat turn's connection, lent to the turn's own units of work.

A chat turn shared across processes (`domain.persistence.chat_turns`) holds a connection for
its chat's lock from the moment it is granted until the update is marked done. The units of
work the turn opens meanwhile run on that connection instead of taking another from the pool:
a turn costs one connection and one checkout, not one plus one for each unit of work, and
nothing it wrote can be committed after its done mark (the mark goes on the same connection,
after them).

Only the task that holds the turn borrows it, one unit of work at a time; a task started
during the turn (it outlives the turn, or runs beside it) takes its connections from the pool
as before, and so does a unit of work opened while the connection is lent out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass
class LentConnection:
    """The turn's connection, while its task's units of work may borrow it."""

    connection: AsyncConnection
    owner: asyncio.Task[object] | None
    borrowed: bool = False


_lent: ContextVar[LentConnection | None] = ContextVar("turn_connection", default=None)


@contextmanager
def lend(connection: AsyncConnection) -> Iterator[None]:
    """Lend `connection` (in autocommit, between statements) to the units of work this task
    opens within the block. Tasks started within it see the loan in their copy of the context
    and never borrow it (`borrow` checks the owner), so nothing outlives the block."""
    token = _lent.set(LentConnection(connection, asyncio.current_task()))
    try:
        yield
    finally:
        _lent.reset(token)


def borrow() -> LentConnection | None:
    """The turn's connection for one unit of work of the turn's own task (give it back with
    `give_back`); None when there is no turn, it is another task's, or it is lent out."""
    lent = _lent.get()
    if lent is None or lent.borrowed or lent.owner is not asyncio.current_task():
        return None
    lent.borrowed = True
    return lent


def give_back(lent: LentConnection) -> None:
    lent.borrowed = False
