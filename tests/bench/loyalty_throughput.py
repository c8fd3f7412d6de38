"""Benchmark: quota claims per second (50 customers at once) and offer evaluation time.

    .venv/bin/python tests/bench/loyalty_throughput.py [--backend sqlite|postgres|both]

Targets on the 2-core machine: at least 500 claims/s on SQLite and 1,000/s on PostgreSQL;
the engine's evaluation of one recharge against 50 live offers under 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from domain.campaigns import Campaign, Offer, OfferKind, Situation, evaluate
from domain.catalogue import ProductKind
from domain.money import Money
from domain.persistence.database import create_engine, create_session_factory
from domain.persistence.migrate import upgrade
from domain.persistence.tables import (
    CampaignRow,
    CustomerRow,
    OfferRow,
    OrderRow,
)
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import Carrier
from domain.repositories import SlotClaim
from domain.tiers import Tier

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 20, tzinfo=UTC)


async def _prepare(
    url: str, customers: int, claims: int, quota: int
) -> tuple[int, list[tuple[int, int]]]:
    """The offer, and each paid order with its customer."""
    engine = create_engine(url)
    await upgrade(engine)
    factory = create_session_factory(engine)
    async with factory() as session:
        campaign = CampaignRow(
            code="bench",
            name_zh="b",
            name_en="b",
            terms_zh="t",
            terms_en="t",
            starts_at=NOW,
            ends_at=NOW + timedelta(days=1),
            timezone="Asia/Shanghai",
            status="active",
            audience="everyone",
            priority=0,
            exclusive=False,
            extra={},
            loaded_at=NOW,
        )
        session.add(campaign)
        await session.flush()
        offer = OfferRow(
            campaign_id=campaign.id,
            code="quota",
            kind="points_multiplier",
            params={"multiplier_percent": 200},
            quota=quota,
        )
        session.add(offer)
        people = [
            CustomerRow(telegram_id=n, language="zh_CN", registered_at=NOW, last_seen_at=NOW)
            for n in range(1, customers + 1)
        ]
        session.add_all(people)
        await session.flush()
        session.add_all(
            OrderRow(
                customer_id=people[n % customers].id,
                purpose="recharge",
                status="paid",
                amount_fen=100,
                currency="CNY",
                created_at=NOW,
                expires_at=NOW,
                updated_at=NOW,
                outcome_notified=False,
            )
            for n in range(claims)
        )
        await session.commit()
        orders = [
            (row.id, row.customer_id)
            for row in await session.execute(select(OrderRow.id, OrderRow.customer_id))
        ]
    await engine.dispose()
    return offer.id, orders


async def measure_claims(url: str, customers: int, claims: int, quota: int) -> dict[str, float]:
    offer_id, orders = await _prepare(url, customers, claims, quota)
    engine = create_engine(url)
    uow = UnitOfWorkFactory.of(engine)
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for order in orders:
        queue.put_nowait(order)
    latencies: list[float] = []
    granted = 0

    async def customer() -> None:
        nonlocal granted
        while not queue.empty():
            order_id, customer_id = queue.get_nowait()
            started = time.perf_counter()
            async with uow() as work:
                if await work.claims.claim(SlotClaim(offer_id, customer_id), order_id, NOW):
                    granted += 1
                await work.commit()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(customer() for _ in range(customers)))
    elapsed = time.perf_counter() - started
    async with engine.connect() as connection:
        used = await connection.scalar(select(OfferRow.used).where(OfferRow.id == offer_id))
    await engine.dispose()
    latencies.sort()
    return {
        "claims_per_s": claims / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
        "granted": granted,
        "used": float(used or 0),
    }


def measure_evaluation(offers: int = 50, rounds: int = 2000) -> float:
    kinds = [
        Offer(f"m{n}", OfferKind.POINTS_MULTIPLIER, quota=100, multiplier_percent=200)
        if n % 3 == 0
        else Offer(f"r{n}", OfferKind.RED_PACKET, every=Money.yuan(100), returns=Money.yuan(10))
        if n % 3 == 1
        else Offer(f"c{n}", OfferKind.CASHBACK, basis_points=500, cap=Money.yuan(10))
        for n in range(offers)
    ]
    campaigns = [
        Campaign(
            code=f"c{n}",
            name_zh="c",
            name_en="c",
            terms_zh="t",
            terms_en="t",
            starts_at=NOW,
            ends_at=NOW + timedelta(days=1),
            priority=n,
            offers=tuple(kinds[n::10]),
        )
        for n in range(10)
    ]
    situation = Situation(
        now=NOW + timedelta(hours=1),
        amount=Money.yuan(300),
        product_kind=ProductKind.CREDIT,
        carrier=Carrier.UNICOM,
        tier=Tier.SILVER,
        new_customer=False,
        base_points=300,
        slots_left={o.code: 50 for o in kinds if o.quota},
        used_by_customer={},
    )
    started = time.perf_counter()
    for _ in range(rounds):
        evaluate(campaigns, situation, 110)
    return (time.perf_counter() - started) / rounds * 1000


async def _postgres_database(base: str) -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--claims", type=int, default=3000)
    parser.add_argument("--quota", type=int, default=1000)
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()
    targets = {"sqlite": 500.0, "postgres": 1000.0}
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "sqlite":
            folder = tempfile.mkdtemp()
            result = await measure_claims(
                f"sqlite+aiosqlite:///{folder}/bench.db", args.customers, args.claims, args.quota
            )
        else:
            url, name = await _postgres_database(args.postgres_url)
            try:
                result = await measure_claims(url, args.customers, args.claims, args.quota)
            finally:
                await _drop(args.postgres_url, name)
        verdict = "meets" if result["claims_per_s"] >= targets[backend] else "MISSES"
        print(
            f"{backend:8s} claims/s={result['claims_per_s']:8.0f}  p50={result['p50_ms']:.2f} ms"
            f"  p95={result['p95_ms']:.2f} ms  granted={result['granted']:.0f}"
            f" used={result['used']:.0f} of quota {args.quota}  ({verdict} target"
            f" {targets[backend]:.0f}/s)"
        )
        assert result["granted"] == result["used"] == min(args.quota, args.claims)
    per_recharge = measure_evaluation()
    verdict = "meets" if per_recharge < 1.0 else "MISSES"
    print(f"engine   evaluation with 50 live offers: {per_recharge:.3f} ms ({verdict} target 1 ms)")


if __name__ == "__main__":
    asyncio.run(main())
