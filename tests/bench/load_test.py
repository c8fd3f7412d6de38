"""Load test: real `python -m bot run` webhook processes behind nginx (when installed), against
the fake Bot API server over HTTP, playing customers; then checks what must hold under load.

    TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tests/bench/load_test.py [--customers 2000] [--concurrency 100]
            [--configs sqlite,pg1,pg2,pg3,ptb] [--open-rate 150[,50]] [--open-seconds 20]

Configurations: `sqlite` (one aiogram process on SQLite), `pg1`, `pg2`, `pg3` (1, 2 and 3 aiogram
workers on one PostgreSQL database), `ptb` (one python-telegram-bot worker on PostgreSQL); each
beside its framework's own echo bot (`tests/bench/echo_bot.py`) run as a real process over the
same path. Every customer, one step after the other (the next once the last was answered):
`/start`, `/offers`, `/bind` a number of their own, `/recharge`, ¥50 call credit, the sandbox
payment tapped twice at once (a double tap), then a complaint (`/feedback`, a category, the
order, the words). A live first-N offer (double points for the first quarter of the customers)
and a first-recharge red packet apply to the recharge; the sandbox carrier gateway completes the
top-up and the order sweep sends the receipt. A post refused (non-2xx: busy) is sent again, as
Telegram does; a post's time until its 200 is the customer's reply latency.

Printed for each configuration: updates/s, bot CPU per update (all workers, over the run) and the
echo bot's, reply latency p50/p95/p99, recharges/s; then PASS/FAIL for: every update answered,
every recharge completed exactly once (one completion, one receipt), the first-N offer's quota
exact, no chat's turns overlapped (each turn's start and end recorded by every process:
`tests/bench/turn_log.py`) nor ran out of update order, the points and wallet ledgers balance,
and messages nobody just asked for (receipts) never above 30 in any one-second window over all
processes. `--open-rate R[,R2] --open-seconds S` then offers R updates a second for S seconds (open
loop: sent on schedule whatever the answers) to `--open-config` and prints reply p50/p95/p99
against the 150 ms goal.

Where a worker's time goes: `LOAD_TEST_PROFILE_DIR=DIR` profiles each worker's CPU time from its
first turn on (cProfile, a file per worker: `python -m pstats DIR/pg1-PORT.prof`); a sampling
profiler (py-spy) attaches to a worker's process id as well. `LOAD_TEST_STATEMENTS_DIR=DIR`
counts the statements each worker sent by shape (`DIR/pg1-PORT.sql.txt`, most sent first) and
prints, for each configuration, the statements, pool checkouts and ORM sessions per update over
all its workers (work that the machine's other load does not change, unlike CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from domain.persistence.database import create_engine  # noqa: E402
from tests.bench.load_checks import (  # noqa: E402
    UNASKED_PER_SECOND,
    Check,
    busiest_second,
    completed_twice,
    out_of_order_turns,
    overlapping_turns,
    quota_broken,
    unbalanced,
)
from tests.bench.scale_out import (  # noqa: E402
    cpu_seconds,
    drop_database,
    free_port,
    fresh_database,
    percentile,
    start_nginx,
)
from tests.bench.turn_log import DatabaseWork, database_work, read_turns  # noqa: E402
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict  # noqa: E402

SECRET = "load-Secret_1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
RECEIPT = "✅ 充值成功"
AMOUNT = "50元"
SANDBOX_PAY = "模拟支付"
OFFER = "first-quarter-double-points"
RECORDER = ROOT / "tests" / "bench" / "turn_recorder"
# Telegram sends a refused update again; the load generator, sooner (it does not wait minutes).
RESEND_SECONDS = 0.5
RESENDS = 20
CONFIGS = {
    "sqlite": ("aiogram", "sqlite", 1),
    "pg1": ("aiogram", "postgres", 1),
    "pg2": ("aiogram", "postgres", 2),
    "pg3": ("aiogram", "postgres", 3),
    "ptb": ("ptb", "postgres", 1),
}


class FlowBroken(Exception):
    """The bot did not answer a step as a customer expects (counted, the customer stops)."""


@dataclass
class Post:
    chat_id: int
    sent: float
    answered: float | None = None
    status: int | None = None
    resent: int = 0


@dataclass
class Run:
    """What one configuration's customers lived."""

    posts: list[Post] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    paid: set[int] = field(default_factory=set)


def campaign_file(quota: int) -> str:
    now = datetime.now(UTC)
    starts = (now - timedelta(hours=1)).isoformat(timespec="seconds")
    ends = (now + timedelta(days=1)).isoformat(timespec="seconds")
    return f"""
[[campaigns]]
code = "load-flash-sale"
name_zh = "限时充值节"
name_en = "Flash recharge sale"
terms_zh = "前{quota}笔充值享双倍积分（每人限1次）；首次充值送5元红包。"
terms_en = "The first {quota} recharges earn double points (once each); a first recharge earns ¥5."
starts_at = {starts}
ends_at = {ends}
audience = "everyone"
priority = 20

[[campaigns.offers]]
code = "{OFFER}"
kind = "points_multiplier"
multiplier = 2
quota = {quota}
per_customer = 1

[[campaigns.offers]]
code = "first-recharge-red-packet"
kind = "first_recharge_bonus"
bonus_yuan = 5
bonus_points = 50
"""


def number_of(n: int) -> str:
    """A mainland mobile number of the customer's own (never ending 0000: the sandbox fails
    those)."""
    return f"1862{n:06d}1"


def newest_screen(messages: list[JSONDict]) -> JSONDict:
    """The bot's newest message in the chat but a receipt (which the order sweep may send at
    any moment, between a step and its answer)."""
    screens = [m for m in messages if not m.get("text", "").startswith(RECEIPT)]
    return screens[-1] if screens else messages[-1]


class Customers:
    """Customers talking to the bot: updates made by the fake Bot API server (its update ids and
    messages), posted to the front (nginx) as Telegram posts them."""

    def __init__(
        self, api: FakeBotApi, http: aiohttp.ClientSession, fronts: list[str], concurrency: int
    ) -> None:
        self.api = api
        self.http = http
        self.fronts = fronts
        self.gate = asyncio.Semaphore(concurrency)
        self.run = Run()
        self._turn = 0

    async def post(self, chat_id: int, update: JSONDict) -> Post:
        """Post until answered 200 (as Telegram resends); the post's record. Its time starts
        when it is sent (once one of the `concurrency` places is free), not while it waits for a
        place in the load generator."""
        record = Post(chat_id, time.perf_counter())
        self.run.posts.append(record)
        async with self.gate:
            record.sent = time.perf_counter()
            for attempt in range(RESENDS):
                call: JSONDict | None = None
                self._turn += 1
                url = self.fronts[self._turn % len(self.fronts)]
                try:
                    async with self.http.post(url, json=update, headers=HEADERS) as response:
                        record.status = response.status
                        call = await self.api.read_webhook_reply(response)
                except aiohttp.ClientError:
                    record.status = None
                if record.status == 200:
                    record.answered = time.perf_counter()
                    if call is not None:  # made by Telegram once it has the answer
                        await self.api.make_webhook_call(call)
                    return record
                record.resent = attempt + 1
                await asyncio.sleep(RESEND_SECONDS)
        return record

    async def say(self, person: FakeUser, words: str) -> JSONDict:
        """Send `words`; the bot's newest message in the chat once answered."""
        before = len(self.api.messages_to(person.id))
        self.api.send_text(person, words)
        record = await self.post(person.id, self.api.updates[-1])
        messages = self.api.messages_to(person.id)
        if record.answered is None or len(messages) <= before:
            raise FlowBroken(f"{words!r} not answered")
        return newest_screen(messages)

    def tap(self, person: FakeUser, message: JSONDict, label: str) -> JSONDict:
        """The update of a tap on the message's button whose text contains `label`."""
        current = self.api.message(person.id, message["message_id"]) or message
        found = [
            b["callback_data"]
            for row in current.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
            if label in b.get("text", "") and "callback_data" in b
        ]
        if not found:
            raise FlowBroken(f"no {label!r} button in {current.get('text', '')[:60]!r}")
        self.api.press_button(person, current, found[0])
        return self.api.updates[-1]

    async def press(self, person: FakeUser, message: JSONDict, label: str) -> JSONDict:
        """Tap the button; the bot's newest message (an edit in place, or a new one)."""
        update = self.tap(person, message, label)
        tapped = update["callback_query"]["message"]
        record = await self.post(person.id, update)
        if record.answered is None:
            raise FlowBroken(f"the tap on {label!r} not answered")
        now = self.api.message(person.id, tapped["message_id"])
        if now is not None and now != tapped:
            return now  # changed in place
        return newest_screen(self.api.messages_to(person.id))

    async def customer(self, n: int, person: FakeUser) -> None:
        try:
            await self.say(person, "/start")
            await self.say(person, "/offers")
            await self.say(person, f"/bind {number_of(n)}")
            screen = await self.say(person, "/recharge")
            screen = await self.press(person, screen, AMOUNT)
            # A double tap: both reach the bot at once (perhaps two workers); it charges once.
            first, second = (self.tap(person, screen, SANDBOX_PAY) for _ in range(2))
            taps = await asyncio.gather(self.post(person.id, first), self.post(person.id, second))
            if any(t.answered is None for t in taps):
                raise FlowBroken("the sandbox payment not answered")
            self.run.paid.add(person.id)
            await self.complain(person)
        except FlowBroken as broken:
            self.run.broken.append(f"customer {n}: {broken}")

    async def complain(self, person: FakeUser) -> None:
        screen = await self.say(person, "/feedback")
        screen = await self.press(person, screen, "投诉")
        screen = await self.press(person, screen, "充值未到账")
        screen = await self.press(person, screen, "订单")
        await self.say(person, "充值很快，但是想确认一下积分。")


@dataclass
class Measured:
    name: str
    workers: int
    updates: int
    seconds: float
    cpu: float
    latencies: list[float]
    recharges: int
    recharge_seconds: float
    checks: list[Check]
    echo_cpu_ms: float | None = None
    # PTB's echo on the HTTP client our PTB front end uses (aiohttp's), beside its own (httpx).
    echo_same_client_ms: float | None = None
    broken: list[str] = field(default_factory=list)
    # With LOAD_TEST_STATEMENTS_DIR: what the workers sent to the database, over their whole
    # run (start-up and sweeps included).
    database: DatabaseWork | None = None
    # The Bot API calls the workers made over HTTP, and those Telegram made from their webhook
    # answers, per update.
    requests_per_update: float = 0.0
    webhook_calls_per_update: float = 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / max(1, self.updates)


def bot_env(
    api: FakeBotApi, database_url: str, public_url: str, port: int, framework: str
) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{RECORDER}{os.pathsep}{ROOT}",
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "BOT_FRONTEND": framework,
        "DATABASE_URL": database_url,  # its pool: the default (DATABASE_POOL_SIZE)
        "WEBHOOK_URL": public_url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        "DASHBOARD_LISTEN": "",
        "DEMO_MODE": "true",
        "PRIVACY_CONSENT_REQUIRED": "false",
        "LOG_LEVEL": "WARNING",
    }


async def start_process(
    command: list[str], env: dict[str, str], workdir: Path, log_name: str
) -> asyncio.subprocess.Process:
    log = (workdir / log_name).open("wb")
    return await asyncio.create_subprocess_exec(
        *command, cwd=str(workdir), env=env, stdout=log, stderr=log
    )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def wait_ready(
    http: aiohttp.ClientSession, port: int, process: asyncio.subprocess.Process, log: Path
) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the process on port {port} ended: {tail(log)}")
        try:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the process on port {port} never became ready: {tail(log)}")


async def stop_processes(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def cli(env: dict[str, str], workdir: Path, *arguments: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *arguments,
        cwd=str(workdir),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bot {' '.join(arguments)} failed: {output.decode()[-2000:]}")


async def delete_webhook(http: aiohttp.ClientSession, api: FakeBotApi) -> None:
    """The load generator posts the updates itself (many at once), not the fake server's
    one-at-a-time delivery: the webhook the workers set is taken back."""
    async with http.post(f"{api.base_url}/bot{api.token}/deleteWebhook") as response:
        assert response.status == 200


@dataclass
class Deployment:
    """Running processes behind one front."""

    fronts: list[str]
    processes: list[asyncio.subprocess.Process]
    nginx: subprocess.Popen[bytes] | None

    def cpu(self) -> float:
        """CPU seconds the processes used so far."""
        return sum(cpu_seconds(p.pid) for p in self.processes)

    async def stop(self) -> None:
        await stop_processes(self.processes)
        if self.nginx is not None:
            self.nginx.terminate()
            self.nginx.wait()


async def deploy(
    api: FakeBotApi,
    http: aiohttp.ClientSession,
    workdir: Path,
    workers: int,
    command: Callable[[int], list[str]],
    env: Callable[[int, str], dict[str, str]],
) -> Deployment:
    ports = [free_port() for _ in range(workers)]
    nginx = start_nginx(workdir, ports)
    fronts = (
        [f"http://127.0.0.1:{nginx[1]}/tg/hook"]
        if nginx
        else [f"http://127.0.0.1:{p}/tg/hook" for p in ports]
    )
    deployment = Deployment(fronts, [], nginx[0] if nginx else None)
    try:
        for port in ports:  # one at a time: the first migrates, the others find nothing to do
            name = f"process-{port}.log"
            process = await start_process(command(port), env(port, fronts[0]), workdir, name)
            deployment.processes.append(process)
            await wait_ready(http, port, process, workdir / name)
        await delete_webhook(http, api)
    except BaseException:
        await deployment.stop()
        raise
    return deployment


async def echo_cpu_ms(framework: str, updates: int, concurrency: int) -> float:
    """The framework's echo bot, a real process behind the same front: CPU per update."""
    workdir = Path(tempfile.mkdtemp(prefix="load-echo-"))
    async with (
        FakeBotApi() as api,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http,
    ):

        def env(port: int, public_url: str) -> dict[str, str]:
            return {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "BOT_TOKEN": api.token,
                "TELEGRAM_API_URL": api.base_url,
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
            }

        script = str(ROOT / "tests" / "bench" / "echo_bot.py")
        deployment = await deploy(
            api, http, workdir, 1, lambda port: [sys.executable, script, framework], env
        )
        try:
            people = [FakeUser(id=800_000 + n, first_name=f"E{n}") for n in range(200)]
            customers = Customers(api, http, deployment.fronts, concurrency)

            async def one(k: int) -> None:
                person = people[k % len(people)]
                customers.api.send_text(person, f"echo {k}")
                await customers.post(person.id, customers.api.updates[-1])

            await asyncio.gather(*(one(k) for k in range(len(people))))  # warm up
            before = sum(cpu_seconds(p.pid) for p in deployment.processes)
            await asyncio.gather(*(one(k) for k in range(updates)))
            cpu = sum(cpu_seconds(p.pid) for p in deployment.processes) - before
        finally:
            await deployment.stop()
    return 1000 * cpu / updates


async def wait_for_receipts(api: FakeBotApi, paid: set[int], timeout: float) -> float:  # noqa: ASYNC109
    """When the last paying customer got their receipt (perf_counter), waiting at most `timeout`."""
    deadline = time.perf_counter() + timeout
    waiting = set(paid)
    while waiting and time.perf_counter() < deadline:
        waiting = {c for c in waiting if not receipts_to(api, c)}
        if waiting:
            await asyncio.sleep(0.2)
    return time.perf_counter()


def receipts_to(api: FakeBotApi, chat_id: int) -> int:
    return sum(m.get("text", "").startswith(RECEIPT) for m in api.messages_to(chat_id))


async def database_checks(
    database_url: str, paid: int
) -> tuple[list[Check], int, dict[int, float], int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:

            async def rows(sql: str) -> list[Any]:
                return list((await connection.execute(text(sql))).all())

            statuses = dict(await rows("SELECT status, count(*) FROM orders GROUP BY status"))
            completed = int(statuses.get("completed", 0))
            completions = [
                r[0]
                for r in await rows(
                    "SELECT order_id FROM order_events WHERE to_status = 'completed'"
                )
            ]
            per_customer = await rows(
                "SELECT customer_id, count(*) FROM orders WHERE status = 'completed'"
                " GROUP BY customer_id HAVING count(*) > 1"
            )
            [(quota, used)] = await rows(
                "SELECT quota, (SELECT coalesce(sum(used), 0) FROM offer_slots"
                f" WHERE offer_id = offers.id) FROM offers WHERE code = '{OFFER}'"
            )
            [(granted,)] = await rows(
                "SELECT count(*) FROM offer_claims JOIN offers ON offers.id = offer_claims.offer_id"
                f" WHERE offers.code = '{OFFER}' AND offer_claims.status = 'granted'"
            )
            wallet = unbalanced(
                [
                    (r[0], r[1])
                    for r in await rows("SELECT customer_id, amount_fen FROM wallet_entries")
                ],
                dict(
                    (r[0], r[1]) for r in await rows("SELECT customer_id, balance_fen FROM wallets")
                ),
            )
            points = unbalanced(
                [
                    (r[0], r[1])
                    for r in await rows("SELECT customer_id, points FROM points_entries")
                ],
                dict(
                    (r[0], r[1])
                    for r in await rows("SELECT customer_id, points FROM points_balances")
                ),
            )
            received = {
                int(r[0]): float(r[1])
                for r in await rows(
                    "SELECT update_id, received_at FROM chat_updates"
                    if "sqlite" in database_url
                    else "SELECT update_id, extract(epoch FROM received_at) FROM chat_updates"
                )
                if not isinstance(r[1], str)
            }
            tickets = (await rows("SELECT count(*) FROM tickets"))[0][0]
            wallet_entries = (await rows("SELECT count(*) FROM wallet_entries"))[0][0]
            points_entries = (await rows("SELECT count(*) FROM points_entries"))[0][0]
    finally:
        await engine.dispose()
    twice = completed_twice(completions)
    broken = quota_broken(quota, used, granted, completed)
    return (
        [
            Check(
                "every recharge completed exactly once",
                completed == paid and not twice and not per_customer,
                f"{completed} of {paid} paid orders completed ({dict(statuses)}); "
                f"completed twice: {twice[:5]}; customers with two completed: {len(per_customer)}",
            ),
            Check(
                "first-N quota exact",
                broken is None,
                broken or f"{granted} of {quota} slots granted ({completed} completed)",
            ),
            Check(
                "ledgers balance",
                not wallet and not points,
                f"wallet: {len(wallet)} customers off ({wallet_entries} entries); "
                f"points: {len(points)} off ({points_entries} entries)",
            ),
        ],
        completed,
        received,
        tickets,
    )


def unasked_send_times(api: FakeBotApi, run: Run) -> list[float]:
    """When messages went out that nobody just asked for: receipts, and anything sent to a chat
    none of whose posts was being answered (wall clock, as the fake server records sends)."""
    offset = time.time() - time.perf_counter()
    open_posts: dict[int, list[tuple[float, float]]] = {}
    for post in run.posts:
        end = post.answered if post.answered is not None else post.sent + 3600
        open_posts.setdefault(post.chat_id, []).append((post.sent + offset, end + offset))
    unasked = []
    for at, chat_id, message_id in api.send_times:
        message = api.message(chat_id, message_id) or {}
        asked = any(start <= at <= end for start, end in open_posts.get(chat_id, []))
        if message.get("text", "").startswith(RECEIPT) or not asked:
            unasked.append(at)
    return unasked


async def measure(
    name: str, customers_count: int, concurrency: int, admin_url: str | None
) -> Measured:
    """One configuration: its processes started behind nginx, the customers played, checked."""
    framework, database, workers = CONFIGS[name]
    workdir = Path(tempfile.mkdtemp(prefix=f"load-{name}-"))
    turn_log = workdir / "turns.log"
    if database == "postgres":
        assert admin_url is not None
        database_url, database_name = await fresh_database(admin_url)
    else:
        database_url, database_name = f"sqlite+aiosqlite:///{workdir}/bot.sqlite3", ""
    try:
        async with (
            FakeBotApi() as api,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency + 10)) as http,
        ):
            counted_files: list[Path] = []

            def env(port: int, public_url: str) -> dict[str, str]:
                profiles = os.environ.get("LOAD_TEST_PROFILE_DIR")
                counted = os.environ.get("LOAD_TEST_STATEMENTS_DIR")
                counts = Path(f"{counted}/{name}-{port}.sql.txt") if counted else None
                if counts is not None:
                    counted_files.append(counts)
                return {
                    **bot_env(api, database_url, public_url, port, framework),
                    "LOAD_TEST_TURN_LOG": str(turn_log),
                    # The CPU profile of each worker, from its first turn on (a file per port).
                    **({"LOAD_TEST_PROFILE": f"{profiles}/{name}-{port}.prof"} if profiles else {}),
                    # The statements each worker sent, counted by shape (a file per port).
                    **({"LOAD_TEST_STATEMENTS": str(counts)} if counts is not None else {}),
                }

            setup = bot_env(api, database_url, "", free_port(), framework)
            campaign = workdir / "campaign.toml"
            campaign.write_text(campaign_file(quota_for(customers_count)), encoding="utf-8")
            await cli(setup, workdir, "campaigns", "load", str(campaign))  # migrates first
            deployment = await deploy(api, http, workdir, workers, bot_command, env)
            try:
                result = await play(
                    name,
                    Stage(api, http, deployment.fronts, database_url, turn_log, deployment.cpu),
                    customers_count,
                    concurrency,
                )
            finally:
                await deployment.stop()  # the statement counts are written as workers exit
            from_answers = len(api.webhook_calls)
            result.requests_per_update = (len(api.calls) - from_answers) / max(1, result.updates)
            result.webhook_calls_per_update = from_answers / max(1, result.updates)
            if counted_files:
                result.database = database_work(counted_files)
            return result
    finally:
        if database_name and not os.environ.get("LOAD_TEST_KEEP"):
            assert admin_url is not None
            await drop_database(admin_url, database_name)
        elif database_name:
            print(f"kept {database_url}")


def bot_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bot", "run"]


def quota_for(customers: int) -> int:
    """The first-N offer's N: a quarter of the customers (so it runs out during the run)."""
    return max(1, customers // 4)


@dataclass
class Stage:
    """Where the customers play: the fake Bot API server, the front to post to, the bot's
    database, the file its turns are recorded in, and its CPU seconds so far."""

    api: FakeBotApi
    http: aiohttp.ClientSession
    fronts: list[str]
    database_url: str
    turn_log: Path
    cpu: Callable[[], float]


async def play(name: str, stage: Stage, customers_count: int, concurrency: int) -> Measured:
    """The customers, then every check, on a bot already running (its database holding the
    campaign of `campaign_file`)."""
    api = stage.api
    people = [
        FakeUser(id=700_000 + n, first_name=f"C{n}", language_code="zh-hans")
        for n in range(customers_count)
    ]
    for person in people:
        api.add_user(person)
    customers = Customers(api, stage.http, stage.fronts, concurrency)
    cpu_before = stage.cpu()
    started = time.perf_counter()
    await asyncio.gather(*(customers.customer(n, p) for n, p in enumerate(people)))
    elapsed = time.perf_counter() - started
    cpu = stage.cpu() - cpu_before
    run = customers.run
    last_receipt = await wait_for_receipts(api, run.paid, 60 + len(run.paid) / 20)
    receipts = {c: receipts_to(api, c) for c in run.paid}
    unasked = unasked_send_times(api, run)
    checks, completed, received, tickets = await database_checks(stage.database_url, len(run.paid))
    turns = read_turns(stage.turn_log) if stage.turn_log.exists() else []
    overlaps = overlapping_turns(turns)
    disorder = out_of_order_turns(turns, received)
    unanswered = [p for p in run.posts if p.answered is None]
    not_one_receipt = {c: n for c, n in receipts.items() if n != 1}
    checks = [
        Check(
            "every update answered",
            not unanswered and not run.broken,
            f"{len(run.posts) - len(unanswered)} of {len(run.posts)} posts answered 200 "
            f"({sum(p.resent for p in run.posts)} resends after a non-2xx); "
            f"customers stopped: {len(run.broken)} {run.broken[:3]}",
        ),
        Check(
            "one receipt per recharge",
            not not_one_receipt,
            f"{len(receipts) - len(not_one_receipt)} of {len(receipts)} paying customers "
            f"got exactly one (others: {dict(list(not_one_receipt.items())[:5])})",
        ),
        *checks,
        Check(
            "no chat's turns overlapped, in update order",
            bool(turns) and not overlaps and not disorder,
            f"{len(turns)} turns recorded by {len({t.process for t in turns})} processes; "
            f"{len(overlaps)} overlaps, {len(disorder)} out of order "
            f"({'with' if received else 'no'} arrival records)"
            + "".join(
                f"; update {later.update_id} (arrived {received[later.update_id]:.3f}, process"
                f" {later.process}) ran {later.start:.3f} after {first.update_id} (process"
                f" {first.process}, looked {first.looked:.3f},"
                f" ran {first.start:.3f}-{first.end:.3f})"
                for first, later in disorder[:3]
            ),
        ),
        Check(
            "one complaint per customer",
            tickets == len(run.paid),
            f"{tickets} tickets for {len(run.paid)} customers",
        ),
        Check(
            f"unasked messages <= {UNASKED_PER_SECOND} in any second",
            busiest_second(unasked) <= UNASKED_PER_SECOND,
            f"{len(unasked)} sent, at most {busiest_second(unasked)} in one second",
        ),
    ]
    latencies = [p.answered - p.sent for p in run.posts if p.answered is not None]
    return Measured(
        name=name,
        workers=CONFIGS[name][2],
        updates=len(run.posts),
        seconds=elapsed,
        cpu=cpu,
        latencies=latencies,
        recharges=completed,
        recharge_seconds=last_receipt - started,
        checks=checks,
        broken=run.broken,
    )


OPEN_LOOP_SCRIPT = ("/start", "/offers", "/help")


async def open_loop(name: str, rate: float, seconds: float, admin_url: str | None) -> list[Post]:
    """Offer `rate` updates a second for `seconds` (sent on schedule, whatever the answers):
    /start, /offers and /help from ever new customers; the posts (each with its answer)."""
    framework, database, workers = CONFIGS[name]
    workdir = Path(tempfile.mkdtemp(prefix=f"load-open-{name}-"))
    if database == "postgres":
        assert admin_url is not None
        database_url, database_name = await fresh_database(admin_url)
    else:
        database_url, database_name = f"sqlite+aiosqlite:///{workdir}/bot.sqlite3", ""
    try:
        async with (
            FakeBotApi() as api,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as http,
        ):
            deployment = await deploy(
                api,
                http,
                workdir,
                workers,
                lambda port: [sys.executable, "-m", "bot", "run"],
                lambda port, url: bot_env(api, database_url, url, port, framework),
            )
            try:
                customers = Customers(api, http, deployment.fronts, 1000)
                total = int(rate * seconds)
                script = OPEN_LOOP_SCRIPT
                people = [
                    FakeUser(id=900_000 + n, first_name=f"O{n}")
                    for n in range(-(-total // len(script)))
                ]
                # Warm: the worker's first updates (its caches, its pool's connections) first.
                warm = Customers(api, http, deployment.fronts, 20)
                warming = [FakeUser(id=990_000 + n, first_name=f"W{n}") for n in range(100)]
                for words in script:
                    for person in warming:
                        api.send_text(person, words)
                    await asyncio.gather(
                        *(
                            warm.post(p.id, u)
                            for p, u in zip(warming, api.updates[-100:], strict=True)
                        )
                    )
                tasks: list[Awaitable[Post]] = []
                started = time.perf_counter()
                for k in range(total):
                    delay = started + k / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    person = people[k % len(people)]
                    api.send_text(person, script[(k // len(people)) % len(script)])
                    tasks.append(asyncio.ensure_future(customers.post(person.id, api.updates[-1])))
                posts = await asyncio.gather(*tasks)
            finally:
                await deployment.stop()
    finally:
        if database_name:
            assert admin_url is not None
            await drop_database(admin_url, database_name)
    return posts


def open_loop_by_command(posts: list[Post]) -> list[str]:
    """Reply p50/p95 of each third of an open loop's posts: the new customers' /start, then
    their /offers, then their /help (the order `open_loop` sends them in)."""
    third = max(1, -(-len(posts) // len(OPEN_LOOP_SCRIPT)))
    lines = []
    for n, words in enumerate(OPEN_LOOP_SCRIPT):
        part = posts[n * third : (n + 1) * third]
        latencies = [p.answered - p.sent for p in part if p.answered is not None]
        if latencies:
            lines.append(
                f"{words} p50 {ms(percentile(latencies, 0.5))} ms,"
                f" p95 {ms(percentile(latencies, 0.95))} ms"
            )
    return lines


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.0f}"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--configs", default="sqlite,pg1,pg2,pg3,ptb")
    parser.add_argument("--echo-updates", type=int, default=2000)
    parser.add_argument("--open-rate", default="150", help="updates/s, several comma-separated")
    parser.add_argument("--open-seconds", type=float, default=20.0)
    parser.add_argument("--open-config", default="pg1")
    options = parser.parse_args()
    admin_url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    names = [n for n in options.configs.split(",") if n]
    if not admin_url:
        print("PostgreSQL configurations skipped: set TEST_POSTGRES_URL (or BENCH_POSTGRES_URL)")
        names = [n for n in names if CONFIGS[n][1] == "sqlite"]
    print(
        f"{options.customers} customers, {options.concurrency} posts at once; load average "
        f"{os.getloadavg()[0]:.1f}; nginx in front: {shutil.which('nginx') is not None}"
    )
    echoes: dict[str, float] = {}
    results: list[Measured] = []
    for name in names:
        framework = CONFIGS[name][0]
        if framework not in echoes:
            echoes[framework] = await echo_cpu_ms(
                framework, options.echo_updates, options.concurrency
            )
        if framework == "ptb" and "ptb-aiohttp" not in echoes:
            echoes["ptb-aiohttp"] = await echo_cpu_ms(
                "ptb-aiohttp", options.echo_updates, options.concurrency
            )
        result = await measure(name, options.customers, options.concurrency, admin_url)
        result.echo_cpu_ms = echoes[framework]
        result.echo_same_client_ms = echoes.get("ptb-aiohttp") if framework == "ptb" else None
        results.append(result)
        print_result(result)
    passed = all(c.passed for r in results for c in r.checks)
    open_loop_possible = admin_url or CONFIGS[options.open_config][1] == "sqlite"
    for rate in [float(r) for r in options.open_rate.split(",") if r] if open_loop_possible else []:
        if options.open_seconds <= 0:
            break
        posts = await open_loop(options.open_config, rate, options.open_seconds, admin_url)
        latencies = [p.answered - p.sent for p in posts if p.answered is not None]
        p95 = percentile(latencies, 0.95)
        print(
            f"open loop, {options.open_config}: {rate:.0f} updates/s offered for "
            f"{options.open_seconds:.0f} s: {len(latencies)} of {len(posts)} answered "
            f"({sum(p.resent for p in posts)} resends after a 503); reply p50 "
            f"{ms(percentile(latencies, 0.5))} ms, p95 {ms(p95)} ms, p99 "
            f"{ms(percentile(latencies, 0.99))} ms "
            f"[{'meets' if p95 <= 0.150 else 'misses'} p95 <= 150 ms]"
        )
        print("  by command: " + "; ".join(open_loop_by_command(posts)))
    print("ALL CHECKS PASS" if passed else "SOME CHECKS FAIL")
    return 0 if passed else 1


def print_result(result: Measured) -> None:
    framework, database, workers = CONFIGS[result.name]
    echo = result.echo_cpu_ms or 0.0
    print(
        f"{result.name}: {framework}, {workers} worker(s) on {database}: "
        f"{result.updates / result.seconds:.1f} updates/s, bot CPU {result.cpu_ms:.1f} ms/update "
        f"(echo {echo:.1f} ms, {result.cpu_ms / echo if echo else 0:.1f}x), reply p50/p95/p99 "
        f"{ms(percentile(result.latencies, 0.5))}/{ms(percentile(result.latencies, 0.95))}/"
        f"{ms(percentile(result.latencies, 0.99))} ms, "
        f"{result.recharges / result.recharge_seconds:.1f} recharges/s"
    )
    if result.echo_same_client_ms:
        same = result.echo_same_client_ms
        print(
            f"  PTB's echo on aiohttp's client (as the bot's PTB front end calls): {same:.1f} ms,"
            f" {result.cpu_ms / same:.1f}x"
        )
    if result.database is not None:
        sent, updates = result.database, max(1, result.updates)
        print(
            f"  sent to the database per update (whole run): {sent.statements / updates:.1f}"
            f" statements, {sent.checkouts / updates:.1f} pool checkouts,"
            f" {sent.orm_sessions / updates:.2f} ORM sessions;"
            f" {sent.connections} connections opened"
        )
    print(
        f"  Bot API calls per update: {result.requests_per_update:.2f} requests by the workers,"
        f" {result.webhook_calls_per_update:.2f} made by Telegram from webhook answers"
    )
    for check in result.checks:
        print(check.line())


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
