"""Benchmark: each dashboard page's queries on PostgreSQL with 1,000,000 orders.

    .venv/bin/python tests/bench/dashboard_queries.py [--orders 1000000] [--customers 200000]
        [--keep] [--reuse DATABASE] [--pages overview,holdout] [--days 30] [--recharge-only]

`--keep` leaves the filled database in place (its name is printed) and `--reuse DATABASE` measures
one left so, migrated to the current revision but not filled again; `--pages` and `--days` measure
only some pages and periods.

Fills a database of its own (dropped at the end) on TEST_POSTGRES_URL's server with customers,
their numbers, orders spread evenly over the last 60 days (90 % completed recharges) and
payments, one campaign (with a 10 % hold-out group) whose offers were claimed by one order in
ten, a points ledger (one entry per completed order), referrals and support tickets; vacuums
and analyses it as autovacuum keeps a live database, then back-fills the roll-ups, the
hold-out buckets, the funnels (of every campaign and of each), the day cells and the pairs of
days (as migrations 0034 to 0042 do on a live database); then
builds every page (the figures and tables a request renders) for the last 7 and 30 days, for
all campaigns and for the one, and prints p50 and p95 per page; last, what keeping the figures
current costs: a recharge sends no roll-up statement (the database notes its changes in the
statements it sends anyway), and the fold of a batch of noted recharges on the full tables,
per batch and per recharge.

Targets: p95 ≤ 300 ms per page; ≤ 50 ms added to a recharge.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dashboard.pages import PAGES, Scope
from domain.figures import Period
from domain.languages import Language
from domain.persistence.core import CoreConnection
from domain.persistence.database import create_engine
from domain.persistence.holdout_buckets import backfill_holdout_buckets
from domain.persistence.migrate import upgrade
from domain.persistence.rollup_fold import fold_rollups
from domain.persistence.rollup_tables import (
    CLAIM_CHANGED,
    COMPLETED,
    ORDERED,
    PAID,
    RollupChangeRow,
)
from domain.persistence.rollups import rebuild_rollups
from domain.persistence.tables import OrderRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.dashboard_figures import CampaignChoice, DashboardFigures
from domain.services.registry import Ports, build_services
from handlers.i18n import texts

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
TARGET_MS = 300.0
RUNS = 15
# What keeping the figures current may add to a recharge, and how many recharges measure it.
RECHARGE_TARGET_MS = 50.0
RECHARGES = 1_000
# Recharges a fold takes at once: a 2-second sweep's worth at 25 recharges/s.
BATCH_OF = 50
# The changes the database notes for a recharge that takes an offer.
NOTED = (ORDERED, PAID, CLAIM_CHANGED, COMPLETED)
ROLLUPS = (
    "recharge_hours",
    "recharge_customer_hours",
    "recharge_customers",
    "holdout_buckets",
    "customer_funnels",
    "campaign_funnels",
    "rollup_changes",
    "recharge_customer_days",
    "recharge_day_cells",
    "recharge_day_pairs",
)


def _fill_statements(customers: int, orders: int) -> list[str]:
    now = f"TIMESTAMPTZ '{NOW.isoformat()}'"
    return [
        f"""INSERT INTO customers (telegram_id, language, registered_at, last_seen_at)
        SELECT 100000 + i, 'zh-CN', {now} - (i % 90) * INTERVAL '1 day' - INTERVAL '1 hour',
               {now} - (i % 30) * INTERVAL '1 day'
        FROM generate_series(1, {customers}) AS i""",
        """INSERT INTO phone_bindings (customer_id, digits, carrier, bound_at)
        SELECT id, lpad((18600000000 + id)::text, 11, '0'), 'unicom', registered_at
        FROM customers""",
        f"""INSERT INTO orders (customer_id, purpose, status, amount_fen, currency, phone_digits,
            carrier, product_name_zh, product_name_en, created_at, expires_at, updated_at,
            completed_at, outcome_notified)
        SELECT 1 + (i % {customers}), 'recharge',
               CASE WHEN i % 10 = 0 THEN 'expired' ELSE 'completed' END,
               (ARRAY[1000, 2000, 5000, 10000])[1 + i % 4], 'CNY', '18600000000', 'unicom',
               '', '', {now} - (i % 86400) * INTERVAL '1 minute',
               {now} - (i % 86400) * INTERVAL '1 minute' + INTERVAL '15 minutes',
               {now} - (i % 86400) * INTERVAL '1 minute',
               CASE WHEN i % 10 = 0 THEN NULL
                    ELSE {now} - (i % 86400) * INTERVAL '1 minute' + INTERVAL '1 minute'
               END, true
        FROM generate_series(1, {orders}) AS i""",
        """INSERT INTO payments (order_id, method, amount_fen, currency, captured_at)
        SELECT id, 'wallet', amount_fen, 'CNY', created_at FROM orders
        WHERE status = 'completed'""",
        f"""INSERT INTO campaigns (code, name_zh, name_en, terms_zh, terms_en, starts_at,
            ends_at, timezone, status, audience, priority, exclusive, extra, loaded_at)
        VALUES ('bench', '压测活动', 'Bench', '', '', {now} - INTERVAL '30 days',
            {now} + INTERVAL '30 days', 'Asia/Shanghai', 'active', 'everyone', 0, false,
            '{{"holdout_percent": 10}}', {now})""",
        """INSERT INTO offers (campaign_id, code, kind, params, quota, used_unsharded,
            spent_fen_unsharded)
        SELECT c.id, 'bench-' || n,
               (ARRAY['threshold_red_packet', 'cashback_percent', 'first_recharge_bonus',
                      'points_multiplier', 'coupon'])[n],
               CASE WHEN n = 5 THEN '{"coupon_code": "BENCH5", "discount": 500}' ELSE '{}' END
                   ::json,
               100000, 0, 0
        FROM campaigns c, generate_series(1, 5) AS n""",
        # Each claim with its cost by its offer's kind: red packets, cash-back, bonus points,
        # a coupon's discount.
        """INSERT INTO offer_claims (offer_id, order_id, customer_id, cashback_fen,
            red_packet_fen, bonus_points, discount_fen, status, at)
        SELECT (SELECT min(id) FROM offers) + o.id % 5, o.id, o.customer_id,
               CASE WHEN o.id % 5 IN (0, 1, 2) THEN 100 ELSE 0 END,
               CASE WHEN o.id % 5 IN (0, 2) THEN 100 ELSE 0 END,
               CASE WHEN o.id % 5 IN (2, 3) THEN 50 ELSE 0 END,
               CASE WHEN o.id % 5 = 4 THEN 500 ELSE 0 END,
               'granted', o.created_at
        FROM orders o WHERE o.id % 10 = 1""",
        # The slots taken, in shard 0 of each offer (the rest of its shards hold no share).
        """INSERT INTO offer_slots (offer_id, shard, quota, used, budget_fen, spent_fen)
        SELECT offers.id, 0, offers.quota, count(offer_claims.id), NULL,
               count(offer_claims.id) * 100
        FROM offers LEFT JOIN offer_claims ON offer_claims.offer_id = offers.id
        GROUP BY offers.id, offers.quota""",
        """INSERT INTO points_entries (customer_id, points, kind, order_id, idempotency_key, note,
            at)
        SELECT customer_id, amount_fen / 100, 'earn', id, 'earn:' || id, '', completed_at
        FROM orders WHERE status = 'completed'""",
        """INSERT INTO points_balances (customer_id, points)
        SELECT customer_id, sum(points) FROM points_entries GROUP BY customer_id""",
        f"""INSERT INTO referrals (inviter_id, friend_id, status, joined_at, campaign_code,
            qualified_at, alert_sent)
        SELECT i, i + 1, CASE WHEN i % 3 = 0 THEN 'qualified' ELSE 'joined' END,
               {now} - (i % 60) * INTERVAL '1 day', 'bench',
               CASE WHEN i % 3 = 0 THEN {now} - (i % 60) * INTERVAL '1 day' END, false
        FROM generate_series(1, {customers // 10} * 2, 2) AS i""",
        # The coupon's code handed out as the inviters' rewards of qualified friends.
        """INSERT INTO referral_rewards (referral_id, customer_id, side, kind, points,
            amount_fen, coupon_code, status, created_at, claimed_at, notified)
        SELECT id, inviter_id, 'inviter', 'coupon', 0, 0, 'BENCH5', 'claimed', qualified_at,
               qualified_at + INTERVAL '1 hour', true
        FROM referrals WHERE status = 'qualified'""",
        f"""INSERT INTO tickets (customer_id, chat_id, category, priority, status, created_at,
            updated_at, first_response_at, csat)
        SELECT 1 + i * 7 % {customers}, i, 'payment', 'normal', 'closed',
               {now} - (i % 60) * INTERVAL '1 day', {now},
               {now} - (i % 60) * INTERVAL '1 day' + (i % 90) * INTERVAL '1 minute', 1 + i % 5
        FROM generate_series(1, 10000) AS i""",
        "ANALYZE",
    ]


async def _database(base: str) -> tuple[str, str]:
    name = f"bench_dashboard_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


async def _drop(base: str, name: str) -> None:
    admin = create_engine(base)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def _fold_cost(engine: AsyncEngine) -> None:
    """What keeping the figures current costs: the fold of `BATCH_OF` recharges of a
    campaign's orders (each made, paid, its offer's slot claimed and completed: four noted
    changes) on the full tables, each batch in one transaction, rolled back."""
    async with engine.connect() as connection:
        orders = (
            (
                await connection.execute(
                    select(OrderRow.id)
                    .where(OrderRow.status == "completed", OrderRow.id % 10 == 1)
                    .order_by(OrderRow.id.desc())
                    .limit(RECHARGES)
                )
            )
            .scalars()
            .all()
        )
    times = []
    for start in range(0, len(orders), BATCH_OF):
        batch = orders[start : start + BATCH_OF]
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(
                insert(RollupChangeRow),
                [{"order_id": o, "kind": k} for o in batch for k in NOTED],
            )
            began = time.perf_counter()
            assert await fold_rollups(CoreConnection(connection)) == len(NOTED) * len(batch)
            times.append((time.perf_counter() - began) * 1000)
            await transaction.rollback()
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95 + 0.5) - 1)]
    print(
        f"the fold of {BATCH_OF} recharges of a campaign's orders ({len(times)} folds): "
        f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms "
        f"({p95 / BATCH_OF:.2f} ms a recharge at p95, off its transaction); a recharge itself "
        f"sends no roll-up statement (target: ≤ {RECHARGE_TARGET_MS:.0f} ms added to one)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="leave the filled database")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a database left by --keep")
    parser.add_argument("--pages", help="comma-separated pages to measure (default: every one)")
    parser.add_argument("--days", help="comma-separated period lengths in days (default: 7,30)")
    parser.add_argument("--recharge-only", action="store_true", help="measure no page")
    args = parser.parse_args()
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)
    if args.reuse:
        name = args.reuse
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    else:
        url, name = await _database(base)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        if not args.reuse:
            await _fill(engine, args.customers, args.orders)
        else:  # roll-ups a migration just made or back-filled, as autovacuum soon keeps them
            await _vacuum_rollups(engine)
        await _measure(engine, args)
    finally:
        await engine.dispose()
        if args.keep or args.reuse:
            print(f"database kept: {name}")
        else:
            await _drop(base, name)


async def _vacuum_rollups(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        # The roll-ups as autovacuum soon keeps them, like every other table.
        for table in ROLLUPS:
            await connection.execute(text(f"VACUUM ANALYZE {table}"))


async def _fill(engine: AsyncEngine, customers: int, orders: int) -> None:
    started = time.perf_counter()
    async with engine.begin() as connection:
        for statement in _fill_statements(customers, orders):
            if statement == "ANALYZE":
                continue
            await connection.execute(text(statement))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        # The state autovacuum keeps a live database in: statistics, and the visibility
        # map that lets the covering indexes answer without reading the tables.
        await connection.execute(text("VACUUM ANALYZE"))
    filled = time.perf_counter()
    async with engine.begin() as connection:
        # What migrations 0034 to 0036 do to the orders and customers of a live database (the
        # changes the database noted as the orders were inserted counted with them).
        await connection.run_sync(rebuild_rollups)
        await connection.run_sync(backfill_holdout_buckets)
    backfilled = time.perf_counter() - filled
    await _vacuum_rollups(engine)
    print(
        f"filled {customers:,} customers and {orders:,} orders (with payments, "
        f"claims, points, referrals, tickets) in {time.perf_counter() - started:.0f} s; "
        f"the roll-ups back-filled in {backfilled:.1f} s"
    )


async def _measure(engine: AsyncEngine, args: argparse.Namespace) -> None:
    wanted = set(args.pages.split(",")) if args.pages else set(PAGES)
    lengths = [int(days) for days in args.days.split(",")] if args.days else [7, 30]
    if args.recharge_only:
        wanted = set()
    uow = UnitOfWorkFactory.of(engine)
    services = build_services(uow, lambda: NOW, ports=Ports(gateway=None, providers={}))  # type: ignore[arg-type]
    figures: DashboardFigures = services.figures
    campaign: CampaignChoice = (await figures.campaigns())[0]
    t = texts(Language.ZH_CN)
    zone = ZoneInfo("Asia/Shanghai")
    worst = 0.0
    print(f"{'page':<10} {'period':<7} {'campaign':<8} {'p50 ms':>8} {'p95 ms':>8}")
    for days in lengths:
        period = Period(NOW - timedelta(days=days), NOW)
        for chosen in (None, campaign):
            for page, build in PAGES.items():
                if (page == "holdout" and chosen is None) or page not in wanted:
                    continue
                scope = Scope(period, chosen, zone)
                times = []
                for _ in range(RUNS):
                    began = time.perf_counter()
                    await build(services, t, scope)
                    times.append((time.perf_counter() - began) * 1000)
                times.sort()
                p95 = times[max(0, int(len(times) * 0.95 + 0.5) - 1)]
                worst = max(worst, p95)
                label = "one" if chosen else "all"
                print(
                    f"{page:<10} {days:>2} days {label:<8} "
                    f"{statistics.median(times):8.1f} {p95:8.1f}"
                )
    verdict = "meets" if worst <= TARGET_MS else "misses"
    print(f"worst page p95 {worst:.0f} ms: {verdict} the target of {TARGET_MS:.0f} ms")
    await _fold_cost(engine)


if __name__ == "__main__":
    asyncio.run(main())
