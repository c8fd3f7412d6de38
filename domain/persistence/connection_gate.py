"""Units of work take the pool's connections in the order they asked for them.

SQLAlchemy's asyncio pool does not serve its waiters in order: a connection given back goes to
whichever unit asks next, most often the task that gave it back and at once opens its next unit,
while the waiter it woke finds the pool empty again and queues anew at the end. Under a burst of
more units than connections, a few customers' units were overtaken again and again until the
pool's timeout refused them "busy" (10-20 of 2,000 recharges with 50 customers at once on a pool
of 20 to 40), while others were served many times.

The gate lets as many units through as it has places (the pool's connections less those set
aside for chat turns and single statements outside units of work) and hands a place that is given
back to the unit that waited longest (asyncio's semaphore: a released place goes to its first
waiter, and nobody may take a place while others wait). Behind the gate, a unit always finds a
connection free in the pool, so the pool's own order no longer matters. A unit that waited the
pool's timeout without a place gets `DatabaseBusy`, as one that waited at the pool did.
"""

from __future__ import annotations

import asyncio

from domain.errors import DatabaseBusy


class ConnectionGate:
    """Places for units of work, served in the order they were asked for."""

    def __init__(self, places: int, timeout_seconds: float) -> None:
        if places < 1:
            raise ValueError("a connection gate needs at least one place")
        self.places = places
        self.timeout_seconds = timeout_seconds
        self._places = asyncio.Semaphore(places)

    async def enter(self) -> None:
        """Take a place, waiting behind those who asked first; `DatabaseBusy` when none came
        free within the timeout (nothing is taken then)."""
        if not self._places.locked():
            await self._places.acquire()  # a place is free and nobody waits: taken at once
            return
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self._places.acquire()
        except TimeoutError as error:
            raise DatabaseBusy("no database connection came free in time") from error

    def leave(self) -> None:
        """Give the place back (to the unit that has waited longest)."""
        self._places.release()
