"""Complaints per second through the support service on SQLite and PostgreSQL.

    .venv/bin/python tests/bench/complaint_throughput.py [--customers 600] [--at-once 50]
        [--backend sqlite|postgres|both] [--postgres-url URL]

The services are built as the product builds them (`build_services` on `create_engine`, a
migrated database). Every customer is registered before the clock starts; then each files one
complaint (`SupportService.open_ticket`: the flood allowance, the ticket and its card for the
staff chat, in one unit of work), `--at-once` of them together. Printed for each backend: CPU
time per complaint (this process, the database's own work aside), complaints per second, and
the statements each sent. Afterwards every customer must have exactly one ticket. PostgreSQL
runs on a fresh database of `--postgres-url` (or TEST_POSTGRES_URL), dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from domain.customers import TelegramProfile  # noqa: E402
from domain.persistence.database import create_engine  # noqa: E402
from domain.persistence.migrate import upgrade  # noqa: E402
from domain.persistence.unit_of_work import UnitOfWorkFactory  # noqa: E402
from domain.services.registry import build_services  # noqa: E402
from domain.services.support import SupportConfig  # noqa: E402
from domain.tickets import Category  # noqa: E402
from tests.bench.recharge_throughput import DEFAULT_POSTGRES_URL, postgres_database  # noqa: E402
from tests.sandbox import sandbox_ports  # noqa: E402

FIRST_TELEGRAM_ID = 10_000


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(engine: AsyncEngine, label: str, customers: int, at_once: int) -> bool:
    await upgrade(engine)
    services = build_services(
        UnitOfWorkFactory.of(engine), support=SupportConfig(), ports=sandbox_ports()
    )
    ids = [
        (await services.customers.begin_turn(TelegramProfile(n), n)).customer.id
        for n in range(FIRST_TELEGRAM_ID, FIRST_TELEGRAM_ID + customers)
    ]
    sent = [0]

    def count(*_args: Any) -> None:
        sent[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    started_cpu, started = cpu_seconds(), time.perf_counter()
    for start in range(0, customers, at_once):
        await asyncio.gather(
            *(
                services.support.open_ticket(customer, customer, Category.OTHER, "充值没到账")
                for customer in ids[start : start + at_once]
            )
        )
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - started_cpu
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    print(
        f"{label:8s} {cpu / customers * 1000:5.2f} ms CPU per complaint, "
        f"{customers / seconds:5.0f} complaints/s ({at_once} at once), "
        f"{sent[0] / customers:.1f} statements each"
    )
    tickets = [len(await services.support.tickets_of(customer)) for customer in ids]
    ok = tickets == [1] * customers
    if not ok:
        print(f"  FAIL: tickets per customer {sorted(set(tickets))}, not exactly one each")
    return ok


async def main(args: argparse.Namespace) -> bool:
    ok = True
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as directory:
            engine = create_engine(f"sqlite+aiosqlite:///{directory}/complaints.sqlite3")
            try:
                ok &= await measure(engine, "sqlite", args.customers, args.at_once)
            finally:
                await engine.dispose()
    if args.backend in ("postgres", "both"):
        url, drop = await postgres_database(args.postgres_url)
        engine = create_engine(url)
        try:
            ok &= await measure(engine, "postgres", args.customers, args.at_once)
        finally:
            await engine.dispose()
            await drop()
    return ok


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--at-once", type=int, default=50)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a server where databases may be created (default: TEST_POSTGRES_URL or local)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(0 if asyncio.run(main(parse_args())) else 1)
