"""What a chat's turn across processes costs: turns taken through `PostgresChatTurns` (record
the arrival, advisory lock, read, mark done) against this process's lock alone, 2,000 turns over
200 chats, 50 at once, and one at a time. Prints turns/s, the time of a turn taken alone (its
round trips) and the CPU this process spends per turn (target: at most 2 ms, beside a real
update's 3-4 ms).

    TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tests/bench/chat_turns.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from domain.persistence.chat_turns import PostgresChatTurns
from domain.persistence.database import create_engine
from domain.persistence.migrate import upgrade

TURNS, CHATS, AT_ONCE = 2000, 200, 50
TARGET_CPU_MS = 2.0


async def alone(turns: PostgresChatTurns) -> float:
    """Milliseconds of one turn when nothing else runs."""
    lane = asyncio.Lock()
    started = time.perf_counter()
    for n in range(200):
        async with turns.turn(10_000 + n, 10_000 + n, lane):
            pass
    return 1000 * (time.perf_counter() - started) / 200


async def measure(turns: PostgresChatTurns | None) -> tuple[float, float]:
    lanes = {chat: asyncio.Lock() for chat in range(CHATS)}
    gate = asyncio.Semaphore(AT_ONCE)
    latencies: list[float] = []

    async def one(n: int) -> None:
        chat = n % CHATS
        async with gate:
            started = time.perf_counter()
            if turns is None:
                async with lanes[chat]:
                    await asyncio.sleep(0)
            else:
                async with turns.turn(chat, n + 1, lanes[chat]):
                    await asyncio.sleep(0)
            latencies.append(time.perf_counter() - started)

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
    try:
        await upgrade(engine)
        local_rate, local_cpu = await measure(None)
        turns = PostgresChatTurns(engine, concurrent=30)
        shared_rate, shared_cpu = await measure(turns)
        single_ms = await alone(turns)
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    added = shared_cpu - local_cpu
    print(f"{TURNS} turns over {CHATS} chats, {AT_ONCE} at once")
    print(f"this process's lock only:  {local_rate:>8.0f} turns/s  CPU {local_cpu:5.2f} ms")
    print(
        f"shared by every process:   {shared_rate:>8.0f} turns/s  CPU {shared_cpu:5.2f} ms a turn"
    )
    print(f"one turn alone (its round trips): {single_ms:.2f} ms")
    verdict = "meets" if added <= TARGET_CPU_MS else "misses"
    print(f"CPU added per turn: {added:.2f} ms ({verdict} the {TARGET_CPU_MS} ms target)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
