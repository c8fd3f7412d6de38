"""What a chat's turn across processes costs: turns taken through `PostgresChatTurns` against
this process's lock alone, 2,000 turns over 200 chats, and one at a time. The shared turns run
twice: 20 at once (within the process's 30 places for a turn: each update records itself, tries
the chat's lock and reads its facts in one statement) and 50 at once (more than the places: an
update waiting for one is recorded first, on a connection of its own). Prints turns/s, the CPU
this process spends per turn and the statements a turn sends (target: at most 2 ms of CPU,
beside a real update's 3-4 ms), and the time of a turn taken alone (its round trips).

    TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tests/bench/chat_turns.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from domain.persistence.chat_turns import PostgresChatTurns
from domain.persistence.database import create_engine
from domain.persistence.migrate import upgrade

TURNS, CHATS, PLACES = 2000, 200, 30
TARGET_CPU_MS = 2.0


@dataclass
class Statements:
    """Statements sent to the database, counted (every engine of this process)."""

    sent: int = 0

    def count(self, *_: Any) -> None:
        self.sent += 1


async def alone(turns: PostgresChatTurns, update_ids: count[int]) -> float:
    """Milliseconds of one turn when nothing else runs."""
    lane = asyncio.Lock()
    started = time.perf_counter()
    for n in range(200):
        async with turns.turn(10_000 + n, next(update_ids), lane):
            pass
    return 1000 * (time.perf_counter() - started) / 200


async def measure(
    turns: PostgresChatTurns | None, at_once: int, update_ids: count[int]
) -> tuple[float, float]:
    """Turns/s and CPU milliseconds a turn, `at_once` turns of different chats at a time."""
    lanes = {chat: asyncio.Lock() for chat in range(CHATS)}
    gate = asyncio.Semaphore(at_once)

    async def one(n: int) -> None:
        chat = n % CHATS
        async with gate:
            if turns is None:
                async with lanes[chat]:
                    await asyncio.sleep(0)
            else:
                async with turns.turn(chat, next(update_ids), lanes[chat]):
                    await asyncio.sleep(0)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(TURNS)))
    elapsed = time.perf_counter() - started
    return TURNS / elapsed, 1000 * (time.process_time() - cpu) / TURNS


async def main() -> int:
    admin_url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        print("skipped: set TEST_POSTGRES_URL to a PostgreSQL server")
        return 0
    name = f"bench_turns_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(admin_url).set(database=name).render_as_string(False))
    statements = Statements()
    update_ids = count(1)
    shared: list[tuple[int, float, float, float]] = []
    try:
        await upgrade(engine)
        local_rate, local_cpu = await measure(None, 50, update_ids)
        turns = PostgresChatTurns(engine, concurrent=PLACES)
        await measure(turns, 20, update_ids)  # warm-up: connections, prepared statements
        event.listen(Engine, "before_cursor_execute", statements.count)
        for at_once in (20, 50):
            statements.sent = 0
            rate, cpu = await measure(turns, at_once, update_ids)
            shared.append((at_once, rate, cpu, statements.sent / TURNS))
        event.remove(Engine, "before_cursor_execute", statements.count)
        single_ms = await alone(turns, update_ids)
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    print(f"{TURNS} turns over {CHATS} chats; {PLACES} places for a turn")
    print(
        f"this process's lock only, 50 at once:  {local_rate:>6.0f} turns/s"
        f"  CPU {local_cpu:5.2f} ms"
    )
    worst = 0.0
    for at_once, rate, cpu, sent in shared:
        print(
            f"shared by every process, {at_once} at once: {rate:>6.0f} turns/s"
            f"  CPU {cpu:5.2f} ms a turn  {sent:4.2f} statements a turn"
        )
        worst = max(worst, cpu - local_cpu)
    print(f"one turn alone (its round trips): {single_ms:.2f} ms")
    verdict = "meets" if worst <= TARGET_CPU_MS else "misses"
    print(f"CPU added per turn, at most: {worst:.2f} ms ({verdict} the {TARGET_CPU_MS} ms target)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
