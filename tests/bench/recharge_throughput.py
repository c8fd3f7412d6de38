"""Completed recharges per second through the order services on SQLite and PostgreSQL.

    .venv/bin/python tests/bench/recharge_throughput.py [--backend sqlite|postgres|both]
        [--customers 50] [--recharges 2000] [--wallet-recharges 1000]
        [--postgres-url URL] [--pool-size 60] [--profile] [--sql]

The services are built as the product builds them (`build_services` on `create_engine`, a
migrated database) with the sandboxes: SandboxPayments approves, SandboxGateway completes at
once. Customers are registered and bind a China Unicom number before the clock starts. Then all
customers at once (one asyncio task each), every one doing its recharges one after another:
`create_order` for its bound number or a typed one, with a product from the catalogue, then
`pay_with_provider(SANDBOX)`, which must end COMPLETED. Afterwards every order must be
COMPLETED, there must be exactly one payment per order, and the dashboard's roll-ups (folded
every 2 seconds while the clock runs, as the scheduler's sweep does, and once more at the end)
must count every completed recharge.

The wallet workload funds each wallet (a wallet top-up paid by the sandbox) before its clock
starts, then `create_order` + `pay_with_wallet`, and checks that every wallet ends at zero with
a ledger that adds up.

With `--campaign`, a campaign from the seeds is live while the clock runs: double points for
the first half of the recharges (a quota, so every recharge that gets it claims a slot) and a
10-yuan red packet into the wallet for every 100 yuan of call credit. Afterwards the slots
taken must equal the double-points orders completed, and never exceed the quota.

SQLite runs on a temporary file; PostgreSQL on a fresh database created on the server of
`--postgres-url` (or TEST_POSTGRES_URL) and dropped afterwards. Targets on the 2-core machine:
≥ 200 recharges/s on SQLite and ≥ 250/s on PostgreSQL. `--profile` prints where the provider
workload spends its time (cProfile); `--sql` counts statements, transactions and sessions per
recharge and the time spent in each kind of statement, for each workload.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import os
import pstats
import re
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import parse_campaign_file
from domain.catalogue import Product, ProductKind
from domain.customers import TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxMode, SandboxPayments
from domain.money import Money
from domain.orders import OrderPurpose, OrderStatus, PaymentMethod, RechargeLimits
from domain.persistence.database import NO_TRANSACTION, PoolBudget, create_engine
from domain.persistence.migrate import upgrade
from domain.persistence.rollup_tables import EVERY_RECHARGE, RechargeHourRow
from domain.persistence.tables import (
    OfferClaimRow,
    OfferRow,
    OrderRow,
    PaymentRow,
    WalletEntryRow,
    WalletRow,
)
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import Carrier, PhoneNumber, parse_phone_number
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGETS = {"sqlite": 200.0, "postgres": 250.0}
# High enough that neither the per-order maximum nor the daily limit ever refuses here.
LIMITS = RechargeLimits(
    minimum=Money.yuan(1), maximum=Money.yuan(1_000_000), daily=Money.yuan(1_000_000_000)
)
WARMUP_PER_CUSTOMER = 1
FIRST_TELEGRAM_ID = 800_000
S = OrderStatus
# How often the noted order changes are folded into the dashboard's roll-ups (the scheduler's
# `fold_rollups` sweep, `Schedule.rollup_fold_seconds`).
FOLD_SECONDS = 2.0


# -- the services on one database ----------------------------------------------------------------
@dataclass
class Bench:
    engine: AsyncEngine
    services: Services
    payments: SandboxPayments
    gateway: SandboxGateway

    @classmethod
    def on(cls, engine: AsyncEngine) -> Bench:
        payments = SandboxPayments(mode=SandboxMode.APPROVE)
        gateway = SandboxGateway(delay=timedelta(0))
        config = RechargeConfig(
            limits=LIMITS, methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX)
        )
        services = build_services(
            UnitOfWorkFactory(engine),
            recharge=config,
            ports=Ports(gateway, {PaymentMethod.SANDBOX: payments}),
        )
        return cls(engine, services, payments, gateway)

    async def scalar(self, query: Any) -> int:
        async with self.engine.connect() as connection:
            return int(await connection.scalar(query) or 0)


@dataclass
class Customer:
    id: int
    chat_id: int
    bound: PhoneNumber
    index: int


def bound_number(index: int) -> str:
    return f"186{index % 10_000:04d}5678"


def typed_number(index: int, turn: int) -> str:
    """What a customer types: separators and +86 included; never ending in 0000 (fails)."""
    return f"+86 155-{index % 10_000:04d}-{1_001 + turn % 8_999:04d}"


async def register(bench: Bench, count: int) -> list[Customer]:
    customers: list[Customer] = []
    for index in range(count):
        telegram_id = FIRST_TELEGRAM_ID + index
        profile = TelegramProfile(telegram_id, first_name=f"Bench{index}", language_code="zh")
        turn = await bench.services.customers.begin_turn(profile, telegram_id)
        number = parse_phone_number(bound_number(index))
        await bench.services.customers.bind_phone(turn.customer.id, number)
        customers.append(Customer(turn.customer.id, telegram_id, number, index))
    return customers


CAMPAIGN = """
[[campaigns]]
code = "bench-festival"
name_zh = "充值节"
name_en = "Recharge festival"
terms_zh = "前{quota}笔充值双倍积分；每满100元返10元红包。"
terms_en = "The first {quota} recharges get double points; 10 yuan back for every 100."
starts_at = {starts_at}
ends_at = {ends_at}

[[campaigns.offers]]
code = "bench-double"
kind = "points_multiplier"
multiplier = 2
quota = {quota}

[[campaigns.offers]]
code = "bench-every-100"
kind = "threshold_red_packet"
every_yuan = 100
returns_yuan = 10
"""


async def load_campaign(bench: Bench, quota: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    text = CAMPAIGN.format(
        quota=quota,
        starts_at=(now - timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=1)).isoformat(),
    )
    await bench.services.campaigns.load(parse_campaign_file(text))


async def verify_campaign(bench: Bench, run: Run, quota: int) -> None:
    """The double-points slots taken are the completed orders that got them, within quota."""
    used = await bench.scalar(select(OfferRow.used).where(OfferRow.code == "bench-double"))
    granted = await bench.scalar(
        select(func.count())
        .select_from(OfferClaimRow)
        .join(OfferRow, OfferRow.id == OfferClaimRow.offer_id)
        .where(OfferRow.code == "bench-double", OfferClaimRow.status == "granted")
    )
    if used != granted or used > quota:
        run.errors[f"slots {used} used, {granted} granted, quota {quota}"] += 1
    print(f"  campaign: {used} of {quota} double-points slots taken", flush=True)


async def unicom_products(bench: Bench) -> list[Product]:
    found: list[Product] = []
    for kind in ProductKind:
        found += await bench.services.ordering.products(kind, Carrier.UNICOM)
    usable = [p for p in found if LIMITS.minimum <= p.price <= LIMITS.maximum]
    assert usable, "the catalogue has no product for China Unicom"
    return usable


def share(total: int, parts: int) -> list[int]:
    """`total` split into `parts` counts that differ by at most one."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


# -- running one workload -----------------------------------------------------------------------
@dataclass
class Run:
    name: str
    backend: str
    seconds: float = 0.0
    # CPU time of this process (the event loop, and aiosqlite's threads) during the run.
    cpu_seconds: float = 0.0
    # CPU time of the PostgreSQL server processes serving this run (None: not measurable).
    server_cpu_seconds: float | None = None
    # The machine's 1-minute load average as the run ended: others' load skews the figures.
    load: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    # The first message of each kind of error, to tell where it came from.
    messages: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """This process's CPU time per completed recharge."""
        return self.cpu_seconds / self.completed * 1_000 if self.completed else float("nan")

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Plan:
    """Which number and product each customer's next recharge is for."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products
        self._turns: Counter[int] = Counter()

    def next(self, customer: Customer) -> tuple[PhoneNumber, Product]:
        turn = self._turns[customer.id]
        self._turns[customer.id] += 1
        product = self.products[(customer.index + turn) % len(self.products)]
        if turn % 2 == 0:
            return customer.bound, product
        return parse_phone_number(typed_number(customer.index, turn)), product


async def recharge_by_provider(bench: Bench, plan: Plan, customer: Customer) -> OrderStatus:
    number, product = plan.next(customer)
    order = await bench.services.ordering.create_order(
        customer.id, customer.chat_id, number, product.id
    )
    done = await bench.services.paying.pay_with_provider(
        customer.id, order.id, PaymentMethod.SANDBOX
    )
    return done.status


async def recharge_by_wallet(bench: Bench, plan: Plan, customer: Customer) -> OrderStatus:
    number, product = plan.next(customer)
    order = await bench.services.ordering.create_order(
        customer.id, customer.chat_id, number, product.id
    )
    done = await bench.services.paying.pay_with_wallet(customer.id, order.id)
    return done.status


Step = Callable[[Bench, Plan, Customer], Awaitable[OrderStatus]]


async def drive(
    bench: Bench,
    run: Run,
    step: Step,
    plan: Plan,
    customers: list[Customer],
    counts: list[int],
    profiler: cProfile.Profile | None = None,
) -> None:
    """Every customer at once, each doing its `counts[i]` recharges one after another."""

    async def customer_task(customer: Customer, count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            try:
                status = await step(bench, plan, customer)
            except Exception as error:
                name = type(error).__name__
                run.errors[name] += 1
                first_line = str(error).strip().split("\n", 1)[0]
                run.messages.setdefault(
                    name, f"{type(error).__module__}.{name}: {first_line}"[:200]
                )
                continue
            if status is S.COMPLETED:
                run.latencies_ms.append((time.perf_counter() - started) * 1_000)
            else:
                run.errors[f"ended {status}"] += 1

    async def fold_every_few_seconds() -> None:
        # As the scheduler's lease holder folds the noted changes into the dashboard's
        # roll-ups (`fold_rollups` sweep), in this process: its cost is in the figures.
        while True:
            await asyncio.sleep(FOLD_SECONDS)
            await bench.services.figures.fold()

    if profiler is not None:
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    folding = asyncio.create_task(fold_every_few_seconds())
    await asyncio.gather(*(customer_task(c, n) for c, n in zip(customers, counts, strict=True)))
    folding.cancel()
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = time.process_time() - cpu_started
    run.load = os.getloadavg()[0]
    if profiler is not None:
        profiler.disable()


async def warm_up(bench: Bench, step: Step, plan: Plan, customers: list[Customer]) -> None:
    """A recharge per customer before the clock starts (connections, statement caches)."""
    run = Run("warm-up", "")
    await drive(bench, run, step, plan, customers, [WARMUP_PER_CUSTOMER] * len(customers))
    if run.errors:
        raise RuntimeError(f"warm-up failed: {dict(run.errors)} {run.messages}")


# -- checking what the database holds afterwards ------------------------------------------------
async def verify_orders(bench: Bench, run: Run, purpose: OrderPurpose, expected: int) -> None:
    by_status: Counter[str] = Counter()
    async with bench.engine.connect() as connection:
        rows = await connection.execute(
            select(OrderRow.status, func.count())
            .where(OrderRow.purpose == purpose.value)
            .group_by(OrderRow.status)
        )
        for status, count in rows:
            by_status[status] = int(count)
    orders = sum(by_status.values())
    payments = await bench.scalar(
        select(func.count())
        .select_from(PaymentRow)
        .join(OrderRow, OrderRow.id == PaymentRow.order_id)
        .where(OrderRow.purpose == purpose.value)
    )
    if orders != expected:
        run.problems.append(f"{orders} {purpose} orders in the database, {expected} expected")
    if set(by_status) != {S.COMPLETED.value}:
        run.problems.append(f"{purpose} orders not all completed: {dict(by_status)}")
    if payments != orders:
        run.problems.append(f"{payments} payments for {orders} {purpose} orders")
    if purpose is OrderPurpose.RECHARGE:
        while await bench.services.figures.fold():
            pass
        rolled_up = await bench.scalar(
            select(func.coalesce(func.sum(RechargeHourRow.recharges), 0)).where(
                RechargeHourRow.campaign_id == EVERY_RECHARGE
            )
        )
        if rolled_up != orders:
            run.problems.append(f"{rolled_up} recharges in the roll-ups for {orders} orders")


async def verify_wallets(bench: Bench, run: Run) -> None:
    balances = await bench.scalar(select(func.coalesce(func.sum(WalletRow.balance_fen), 0)))
    ledger = await bench.scalar(select(func.coalesce(func.sum(WalletEntryRow.amount_fen), 0)))
    if balances != ledger:
        run.problems.append(f"wallet balances {balances} fen but ledger {ledger} fen")
    cashback = await bench.scalar(
        select(func.coalesce(func.sum(WalletEntryRow.amount_fen), 0)).where(
            WalletEntryRow.kind == "cashback"
        )
    )
    if balances != cashback:  # red packets (`--campaign`) are all that is left to spend
        run.problems.append(
            f"wallets hold {balances} fen after spending what they got ({cashback} fen cash-back)"
        )


# -- SQL counters (--sql) -----------------------------------------------------------------------
_SPACES = re.compile(r"\s+")
_PARAMETERS = re.compile(r"\(\$\d+(?:::[A-Z]+)?(?:, \$\d+(?:::[A-Z]+)?)*\)|\(\?(?:, \?)*\)")


def statement_kind(statement: str) -> str:
    """A statement's shape: whitespace squeezed, parameter lists folded, cut to 110 chars."""
    compact = _PARAMETERS.sub("(…)", _SPACES.sub(" ", statement.strip()))
    return compact if len(compact) <= 110 else compact[:107] + "..."


@dataclass
class SqlCounter:
    """Statements, transactions and session checkouts on one engine; time per statement kind."""

    statements: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    events: Counter[str] = field(default_factory=Counter)
    _started: dict[int, float] = field(default_factory=dict)
    enabled: bool = False

    def attach(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync, "begin", self._transaction_event("begin"))
        event.listen(sync, "commit", self._transaction_event("commit"))
        event.listen(sync, "rollback", self._event("rollback"))
        event.listen(sync.pool, "checkout", self._event("pool checkout"))
        event.listen(sync.pool, "connect", self._event("new connection"))

    def _event(self, name: str) -> Callable[..., None]:
        def count(*_args: Any) -> None:
            if self.enabled:
                self.events[name] += 1

        return count

    def _transaction_event(self, name: str) -> Callable[..., None]:
        """Counted only on a connection that opens a transaction: a unit of work that reads,
        or writes one statement, sends no BEGIN and no COMMIT (`NO_TRANSACTION`)."""

        def count(connection: Any) -> None:
            if self.enabled and not connection.get_execution_options().get(NO_TRANSACTION):
                self.events[name] += 1

        return count

    def _before(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        if self.enabled:
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        started = self._started.pop(id(cursor), None)
        if self.enabled and started is not None:
            kind = statement_kind(statement)
            self.statements[kind] += 1
            self.seconds[kind] += time.perf_counter() - started

    def report(self, recharges: int) -> None:
        per = max(recharges, 1)
        print(f"  per recharge: {sum(self.statements.values()) / per:.1f} statements", end="")
        for name in ("begin", "commit", "rollback", "pool checkout", "new connection"):
            print(f", {self.events[name] / per:.1f} {name}", end="")
        print()
        print("  statements (per recharge, mean ms from send to result incl. waiting):")
        for kind, count in self.statements.most_common():
            mean_ms = self.seconds[kind] / count * 1_000
            print(f"    {count / per:4.1f} x {mean_ms:6.2f} ms  {kind}")


# -- server CPU (PostgreSQL on this machine) ----------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a local process, from /proc; None when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ServerCpu:
    """Best effort: the CPU used by the server processes of the bench database (local only)."""

    def __init__(self, bench: Bench) -> None:
        self._bench = bench
        self._before: dict[int, float] = {}

    async def _sample(self) -> dict[int, float] | None:
        async with self._bench.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
            pids = [int(pid) for (pid,) in rows]
        found = {pid: process_cpu_seconds(pid) for pid in pids}
        if any(seconds is None for seconds in found.values()):
            return None
        return {pid: seconds for pid, seconds in found.items() if seconds is not None}

    async def start(self) -> None:
        self._before = await self._sample() or {}

    async def stop(self, run: Run) -> None:
        after = await self._sample()
        if after is not None and self._before:
            run.server_cpu_seconds = sum(
                seconds - self._before.get(pid, 0.0) for pid, seconds in after.items()
            )


async def measured(
    bench: Bench, run: Run, server: ServerCpu | None, workload: Awaitable[None]
) -> None:
    if server is not None:
        await server.start()
    await workload
    if server is not None:
        await server.stop(run)


# -- one backend -------------------------------------------------------------------------------
@dataclass
class Outcome:
    backend: str
    runs: list[Run]


async def bench_backend(
    backend: str, url: str, args: argparse.Namespace, log_errors: ErrorCount
) -> Outcome:
    engine = create_engine(url, pool=PoolBudget(size=args.pool_size))
    counter = SqlCounter()
    if args.sql:
        counter.attach(engine)
    try:
        await upgrade(engine)
        bench = Bench.on(engine)
        quota = args.recharges // 2
        if args.campaign:
            await load_campaign(bench, quota)
        customers = await register(bench, args.customers)
        plan = Plan(await unicom_products(bench))
        runs: list[Run] = []

        provider = Run("provider", backend)
        await warm_up(bench, recharge_by_provider, plan, customers)
        gc.freeze()  # as the bot does once started (bot/cli.py): set-up is never collected
        profiler = cProfile.Profile() if args.profile else None
        server = ServerCpu(bench) if backend == "postgres" else None
        counter.enabled = True
        logged_before = log_errors.count
        counts = share(args.recharges, len(customers))
        await measured(
            bench,
            provider,
            server,
            drive(bench, provider, recharge_by_provider, plan, customers, counts, profiler),
        )
        counter.enabled = False
        if log_errors.count > logged_before:
            provider.errors["logged"] += log_errors.count - logged_before
        expected = (
            args.recharges + WARMUP_PER_CUSTOMER * len(customers) - sum(provider.errors.values())
        )
        await verify_orders(bench, provider, OrderPurpose.RECHARGE, expected)
        if args.campaign:
            await verify_campaign(bench, provider, quota)
        runs.append(provider)
        report_run(provider)
        if args.sql:
            counter.report(provider.completed)
        if profiler is not None:
            print_profile(profiler, args.profile_lines, provider.completed)

        if args.wallet_recharges > 0:
            wallet_counter = SqlCounter()
            if args.sql:
                wallet_counter.attach(engine)
            wallet = await wallet_workload(
                bench, backend, plan, customers, args, server, wallet_counter
            )
            runs.append(wallet)
            report_run(wallet)
            if args.sql:
                wallet_counter.report(wallet.completed)
        return Outcome(backend, runs)
    finally:
        await engine.dispose()


async def wallet_workload(
    bench: Bench,
    backend: str,
    plan: Plan,
    customers: list[Customer],
    args: argparse.Namespace,
    server: ServerCpu | None,
    counter: SqlCounter,
) -> Run:
    """Fund every wallet with exactly what its recharges will cost, then pay from the wallet."""
    run = Run("wallet", backend)
    counts = share(args.wallet_recharges, len(customers))
    # Each customer's plan is deterministic: replay it on a copy to know what it will spend.
    preview = Plan(plan.products)
    preview._turns = Counter(plan._turns)
    orders_before = await bench.scalar(
        select(func.count())
        .select_from(OrderRow)
        .where(OrderRow.purpose == OrderPurpose.RECHARGE.value)
    )
    for customer, count in zip(customers, counts, strict=True):
        spend = sum((preview.next(customer)[1].price for _ in range(count)), Money(0))
        if spend.fen == 0:
            continue
        topup = await bench.services.ordering.create_wallet_topup(
            customer.id, customer.chat_id, spend
        )
        done = await bench.services.paying.pay_with_provider(
            customer.id, topup.id, PaymentMethod.SANDBOX
        )
        if done.status is not S.COMPLETED:
            raise RuntimeError(f"wallet top-up ended {done.status}")
    counter.enabled = True
    await measured(
        bench, run, server, drive(bench, run, recharge_by_wallet, plan, customers, counts)
    )
    counter.enabled = False
    expected = orders_before + args.wallet_recharges - sum(run.errors.values())
    await verify_orders(bench, run, OrderPurpose.RECHARGE, expected)
    await verify_orders(bench, run, OrderPurpose.WALLET_TOPUP, sum(1 for n in counts if n))
    if not run.errors:
        await verify_wallets(bench, run)
    return run


# -- databases ---------------------------------------------------------------------------------
async def postgres_database(server_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh empty database on the server; returns its URL and how to drop it."""
    name = f"recharge_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url)
    try:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()

    async def drop() -> None:
        admin = create_engine(server_url)
        try:
            async with admin.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()

    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return url, drop


async def run_backend(backend: str, args: argparse.Namespace, errors: ErrorCount) -> Outcome:
    print(f"== {backend} ==", flush=True)
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="recharge-bench-") as directory:
            url = f"sqlite+aiosqlite:///{Path(directory, 'bench.sqlite3')}"
            return await bench_backend(backend, url, args, errors)
    url, drop = await postgres_database(args.postgres_url)
    try:
        return await bench_backend(backend, url, args, errors)
    finally:
        await drop()


# -- reporting ---------------------------------------------------------------------------------
def report_run(run: Run) -> None:
    errors = sum(run.errors.values())
    detail = f" {dict(run.errors)}" if run.errors else ""
    server = ""
    if run.server_cpu_seconds is not None and run.completed:
        server = f", server {run.server_cpu_seconds / run.completed * 1_000:.1f} ms"
    print(
        f"{run.backend:8} {run.name:8} {run.rate:7.1f} recharges/s"
        f"  p50 {run.percentile(0.50):6.0f} ms  p95 {run.percentile(0.95):6.0f} ms"
        f"  max {run.percentile(1.0):6.0f} ms"
        f"  total {run.completed} in {run.seconds:.2f} s  errors {errors}{detail}"
        f"  | CPU/recharge: client {run.cpu_ms:.1f} ms"
        f" ({run.cpu_seconds / run.seconds if run.seconds else 0:.0%} of a core){server}"
        f" | load {run.load:.1f}",
        flush=True,
    )
    for message in run.messages.values():
        print(f"         first error: {message}", flush=True)
    for problem in run.problems:
        print(f"         CHECK FAILED: {problem}", flush=True)


def summarise(outcomes: list[Outcome]) -> bool:
    print("== summary ==")
    met = True
    for outcome in outcomes:
        for run in outcome.runs:
            report_run(run)
            met = met and not run.errors and not run.problems
    for outcome in outcomes:
        provider = outcome.runs[0]
        target = TARGETS[outcome.backend]
        verdict = "met" if provider.rate >= target else "MISSED"
        met = met and provider.rate >= target
        print(
            f"target {outcome.backend}: {provider.rate:.0f}/s vs ≥ {target:.0f}/s"
            f" ({provider.rate / target:.0%}) — {verdict}"
        )
    print("all targets met, all checks passed" if met else "TARGETS OR CHECKS NOT MET")
    return met


AREAS = (
    ("/sqlalchemy/orm/", "SQLAlchemy ORM (session, flush, loading)"),
    ("/sqlalchemy/", "SQLAlchemy Core (compile, engine, pool, greenlet bridge)"),
    ("/asyncpg/", "asyncpg"),
    ("/aiosqlite/", "aiosqlite"),
    ("/asyncio/", "asyncio event loop"),
    ("/domain/", "domain code"),
)


def area_of(filename: str, function: str) -> str:
    for fragment, area in AREAS:
        if fragment in filename:
            return area
    if "epoll" in function or "poll' of 'select" in function:
        return "waiting in epoll (idle, not CPU)"
    if "socket" in function:
        return "socket send/recv system calls"
    if "greenlet" in function:
        return "greenlet switches"
    if "sqlite3" in function or "Cursor" in function or "Connection" in function:
        return "sqlite3 C calls"
    return "other (builtins, stdlib, bench)"


def print_profile(profiler: cProfile.Profile, lines: int, recharges: int) -> None:
    stats = pstats.Stats(profiler)
    areas: Counter[str] = Counter()
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        areas[area_of(filename, function)] += row[2]  # tottime
    total = sum(areas.values())
    print("-- cProfile: own time by area (per recharge; profiler overhead included) --")
    for area, seconds in areas.most_common():
        share_ = seconds / total if total else 0.0
        print(f"  {seconds / max(recharges, 1) * 1_000:6.2f} ms {share_:6.1%}  {area}")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(lines)
        print(f"-- cProfile by {order} --")
        print(out.getvalue())


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def backends(choice: str) -> Iterator[str]:
    return iter(("sqlite", "postgres") if choice == "both" else (choice,))


async def main(args: argparse.Namespace) -> bool:
    errors = ErrorCount()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().addHandler(errors)
    print(
        f"{args.customers} customers at once, {args.recharges} provider recharges"
        f" + {args.wallet_recharges} wallet recharges per backend"
        f" (+{WARMUP_PER_CUSTOMER} warm-up each), {os.cpu_count()} cores",
        flush=True,
    )
    outcomes = [await run_backend(backend, args, errors) for backend in backends(args.backend)]
    return summarise(outcomes)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--recharges", type=int, default=2_000)
    parser.add_argument(
        "--wallet-recharges", type=int, default=1_000, help="0 skips the wallet workload"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a server where databases may be created (default: TEST_POSTGRES_URL or local)",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=PoolBudget().size,
        help="PostgreSQL connections kept (DATABASE_POOL_SIZE; SQLite keeps its own five)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the provider workload")
    parser.add_argument("--profile-lines", type=int, default=35)
    parser.add_argument("--sql", action="store_true", help="count and time statements")
    parser.add_argument(
        "--campaign", action="store_true", help="with a campaign of offers live (see above)"
    )
    args = parser.parse_args(argv)
    if args.customers < 1 or args.recharges < 0 or args.wallet_recharges < 0:
        parser.error("--customers must be ≥ 1 and the counts ≥ 0")
    return args


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main(parse_args(sys.argv[1:]))) else 1)
