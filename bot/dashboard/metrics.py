"""Prometheus metrics of one bot process, in a registry of its own (tests build many).

Counted as they happen: updates handled by kind and front end, and the time to the answer.
Read from the database at each scrape: orders by status. Read from the engine: connections
of the pool in use.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from domain.services.dashboard_figures import DashboardFigures
from handlers.contract import Incoming

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class BotMetrics:
    def __init__(self, frontend: str) -> None:
        self.frontend = frontend
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "bot_updates_handled",
            "Updates handled, by kind of event and front end.",
            ("kind", "frontend"),
            registry=self.registry,
        )
        self.reply_seconds = Histogram(
            "bot_reply_seconds",
            "Time from an update's arrival to its answer, by kind of event.",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.orders = Gauge(
            "bot_orders", "Orders in the database, by status.", ("status",), registry=self.registry
        )
        self.pool_in_use = Gauge(
            "bot_database_connections_in_use",
            "Database connections of this process's pool checked out now.",
            registry=self.registry,
        )

    def handled(self, event: Incoming, seconds: float) -> None:
        kind = event.kind.value
        self.updates.labels(kind=kind, frontend=self.frontend).inc()
        self.reply_seconds.labels(kind=kind).observe(seconds)

    async def render(self, figures: DashboardFigures, engine: AsyncEngine) -> bytes:
        """The text exposition, with the figures read from the database just now."""
        for status, count in (await figures.orders_by_status()).items():
            self.orders.labels(status=status.value).set(count)
        pool = engine.sync_engine.pool
        if isinstance(pool, QueuePool):
            self.pool_in_use.set(pool.checkedout())
        return generate_latest(self.registry)


Observer = Callable[[Incoming, float], None]
