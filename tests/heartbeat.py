"""A heartbeat that measures how long the event loop was kept from running it."""

from __future__ import annotations

import asyncio
import time


class Heartbeat:
    """Ticks every 5 ms; `longest` is the longest it was kept waiting beyond that. Started and
    stopped by `start`/`stop`, or by a `with` block."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.longest = max(self.longest, time.perf_counter() - before - 0.005)

    def start(self) -> None:
        self.longest = 0.0
        self._task = asyncio.get_running_loop().create_task(self._beat())

    def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        return self.longest

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
