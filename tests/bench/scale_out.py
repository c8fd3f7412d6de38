"""Scale-out: 1, 2 and 3 real webhook workers (`python -m bot run`, aiogram) on one PostgreSQL
database, behind nginx when it is installed (else the load generator spreads the posts itself),
against the fake Bot API server over HTTP.

Customers each send `/start`, `/offers` and `/help` one after another (as a person would: the next
once the last was answered), many customers at once. A post is answered once its update was
handled, its replies sent, so the post's time is the customer's reply latency. Prints, for each
number of workers: updates/s, reply latency p50/p95, bot CPU per update, and the updates not
answered 200.

    TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tests/bench/scale_out.py [--customers 200] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from domain.persistence.database import create_engine  # noqa: E402
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict  # noqa: E402

SECRET = "bench-Secret_1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
SCRIPT = ("/start", "/offers", "/help")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def update(user: FakeUser, update_id: int, text_: str) -> JSONDict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": user.private_chat(),
            "from": user.to_api(),
            "text": text_,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text_)}],
        },
    }


async def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"bench_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


async def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def on_each_database(measure: Callable[[str, str], Awaitable[None]]) -> None:
    """`measure(database, url)` on a temporary SQLite file, then on a fresh PostgreSQL database
    when BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) names a server (dropped afterwards)."""
    with tempfile.TemporaryDirectory() as workdir:
        await measure("SQLite", f"sqlite+aiosqlite:///{workdir}/bench.sqlite3")
    admin_url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        print("PostgreSQL skipped: set TEST_POSTGRES_URL (or BENCH_POSTGRES_URL)")
        return
    url, name = await fresh_database(admin_url)
    try:
        await measure("PostgreSQL", url)
    finally:
        await drop_database(admin_url, name)


def start_nginx(workdir: Path, ports: list[int]) -> tuple[subprocess.Popen[bytes], int] | None:
    if shutil.which("nginx") is None:
        return None
    port = free_port()
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;" for p in ports)
    (workdir / "nginx.conf").write_text(
        f"""pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
worker_processes 1;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  upstream workers {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location = /tg/hook {{
      proxy_pass http://workers;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 60s;
      proxy_next_upstream error timeout http_502 non_idempotent;
    }}
  }}
}}
"""
    )
    process = subprocess.Popen(
        ["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


async def start_worker(
    api: FakeBotApi, database_url: str, public_url: str, port: int, workdir: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "BOT_FRONTEND": "aiogram",
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": "20",
        "DATABASE_MAX_OVERFLOW": "20",
        "WEBHOOK_URL": public_url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        "DASHBOARD_LISTEN": "",
        "DEMO_MODE": "true",
        "LOG_LEVEL": "WARNING",
    }
    log = (workdir / f"worker-{port}.log").open("wb")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=str(workdir), env=env, stdout=log, stderr=log
    )


async def wait_ready(http: aiohttp.ClientSession, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the worker on port {port} never became ready")


async def run(admin_url: str, workers: int, customers: int, concurrency: int) -> dict[str, float]:
    database_url, name = await fresh_database(admin_url)
    workdir = Path(tempfile.mkdtemp(prefix="scale-out-"))
    ports = [free_port() for _ in range(workers)]
    nginx = start_nginx(workdir, ports)
    front = (
        [f"http://127.0.0.1:{nginx[1]}/tg/hook"]
        if nginx
        else [f"http://127.0.0.1:{p}/tg/hook" for p in ports]
    )
    processes: list[asyncio.subprocess.Process] = []
    try:
        async with (
            FakeBotApi() as api,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http,
        ):
            # One worker first: it migrates the new database, the others find nothing to do.
            for port in ports:
                processes.append(await start_worker(api, database_url, front[0], port, workdir))
                await wait_ready(http, port)
            people = [
                FakeUser(id=700_000 + n, first_name=f"C{n}", language_code="en")
                for n in range(customers)
            ]
            for person in people:
                api.add_user(person)
            latencies: list[float] = []
            failed = 0
            gate = asyncio.Semaphore(concurrency)
            next_id = iter(range(1, 10**9))

            async def customer(n: int, person: FakeUser) -> None:
                nonlocal failed
                for step, command in enumerate(SCRIPT):
                    url = front[(n + step) % len(front)]
                    async with gate:
                        started = time.perf_counter()
                        body = update(person, next(next_id), command)
                        try:
                            async with http.post(url, json=body, headers=HEADERS) as response:
                                ok = response.status == 200
                        except aiohttp.ClientError:
                            ok = False
                        latencies.append(time.perf_counter() - started)
                        failed += not ok

            cpu_before = sum(cpu_seconds(p.pid) for p in processes)
            started = time.perf_counter()
            await asyncio.gather(*(customer(n, p) for n, p in enumerate(people)))
            elapsed = time.perf_counter() - started
            cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
        if nginx:
            nginx[0].terminate()
            nginx[0].wait()
        await drop_database(admin_url, name)
        shutil.rmtree(workdir, ignore_errors=True)
    updates = len(latencies)
    return {
        "updates": updates,
        "per_second": updates / elapsed,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "cpu_ms": 1000 * cpu / updates,
        "failed": failed,
        "nginx": 1.0 if nginx else 0.0,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 3])
    options = parser.parse_args()
    admin_url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        print("skipped: set TEST_POSTGRES_URL (or BENCH_POSTGRES_URL) to a PostgreSQL server")
        return 0
    print(
        f"{options.customers} customers x {len(SCRIPT)} updates, {options.concurrency} posts at "
        f"once, aiogram webhook workers on PostgreSQL"
    )
    print("workers  front        updates/s   p50 ms   p95 ms   bot CPU/update   not 200")
    for workers in options.workers:
        result = await run(admin_url, workers, options.customers, options.concurrency)
        front = "nginx" if result["nginx"] else "round-robin"
        print(
            f"{workers:>7}  {front:<11} {result['per_second']:>10.1f} {1000 * result['p50']:>8.0f}"
            f" {1000 * result['p95']:>8.0f} {result['cpu_ms']:>13.1f} ms {int(result['failed']):>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
