"""What a service may be told about a write that the database refused."""

from __future__ import annotations


class RecordConflict(Exception):
    """A write broke a unique key or another constraint of the data: most often a concurrent
    duplicate of the same request got there first (a double tap, a replayed update). The unit
    of work's transaction is then over; nothing of it is kept."""


class ChatTurnBusy(Exception):
    """A chat's turn could not be taken in time (another process holds it, or the database
    did not answer): the update is not handled now and must be delivered again."""


class DatabaseBusy(ChatTurnBusy):
    """No database connection of this process came free within the pool's timeout (every
    connection of its budget was in use): nothing of the turn was done, and the update must be
    delivered again. The customer is asked to try again in a moment."""
