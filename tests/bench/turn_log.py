"""A chat turn's start and end, as one line each in a file shared by every process of a load test.

`record_turns` wraps the shared turn handling (`handlers.chat_queues.ChatQueues.turn`, used by
both front ends): the start is taken once the turn was granted (the chat's lock held, in this
process or across processes), the end before it is released. Times are the wall clock, the same
for every process of the machine. A line: chat id, update id, whether the update was worked (0:
already worked, a resend), start, end, process id.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import time
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


def record_turns(path: str, profile: str | None = None) -> Callable[[], None]:
    """From now on every chat turn of this process is written to `path` (appended, one line a
    turn, written when the turn ends); until the function returned is called. With `profile`,
    the process's CPU time from its first turn on (start-up left out) is profiled into that
    file when the process exits."""
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
            try:
                yield fresh
            finally:
                out.write(
                    f"{admission.chat_id} {update_id or 0} {int(fresh)} {start:.6f}"
                    f" {time.time():.6f} {process}\n"
                )

    ChatQueues.turn = recorded  # type: ignore[method-assign]

    def stop() -> None:
        ChatQueues.turn = granted  # type: ignore[method-assign]
        out.close()

    return stop


def read_turns(path: Path) -> list[TurnRecord]:
    records = []
    for line in path.read_text(encoding="ascii").splitlines():
        chat, update, worked, start, end, process = line.split()
        records.append(
            TurnRecord(
                int(chat), int(update), worked == "1", float(start), float(end), int(process)
            )
        )
    return records
