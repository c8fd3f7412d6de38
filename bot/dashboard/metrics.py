"""Prometheus metrics of one bot process, in a registry of its own (tests build many).

Counted as they happen: updates handled by kind and front end, and the time to the answer;
and what the services, the delivery port and the scheduler tell (`domain.observations`, which
this class implements): payments by method and outcome, top-up answers by outcome, offer
slots claimed or sold out, deliveries by outcome and 429s, sweep durations by sweep, whether
this process holds the scheduler lease. Read from the database at each scrape: orders by
status. Read from the engine (`pool.checkedout()`): connections of the pool in use.
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
SWEEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


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
        self.payments = Counter(
            "bot_payments",
            "Payment attempts, by method and outcome (approved, declined, unknown, unmatched).",
            ("method", "outcome"),
            registry=self.registry,
        )
        self.top_ups = Counter(
            "bot_top_ups",
            "The carrier's answers to top-ups, by outcome (completed, pending, failed).",
            ("outcome",),
            registry=self.registry,
        )
        self.quota_claims = Counter(
            "bot_quota_claims",
            "Offer slots asked for, by result (won, sold_out).",
            ("result",),
            registry=self.registry,
        )
        self.deliveries = Counter(
            "bot_deliveries",
            "Messages nobody just asked for, by how they ended (sent, blocked, rejected, "
            "dead_lettered).",
            ("outcome",),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "bot_delivery_rate_limited",
            "Bot API calls Telegram refused with a 429: tries of those messages, and of a "
            "turn's own answers (replies, edits, a button's answer).",
            registry=self.registry,
        )
        self.sweep_seconds = Histogram(
            "bot_sweep_seconds",
            "How long each scheduler sweep ran, by sweep.",
            ("sweep",),
            buckets=SWEEP_BUCKETS,
            registry=self.registry,
        )
        self.lease_holder = Gauge(
            "bot_scheduler_lease_holder",
            "1 while this process holds the scheduler lease (runs the sweeps), else 0.",
            registry=self.registry,
        )

    # -- domain.observations.Observations -------------------------------------------------------
    def payment(self, method: str, outcome: str) -> None:
        self.payments.labels(method=method, outcome=outcome).inc()

    def top_up(self, outcome: str) -> None:
        self.top_ups.labels(outcome=outcome).inc()

    def quota_claim(self, won: bool, count: int = 1) -> None:
        self.quota_claims.labels(result="won" if won else "sold_out").inc(count)

    def delivery(self, outcome: str) -> None:
        self.deliveries.labels(outcome=outcome).inc()

    def too_many_requests(self) -> None:
        self.rate_limited.inc()

    def sweep(self, name: str, seconds: float) -> None:
        self.sweep_seconds.labels(sweep=name).observe(seconds)

    def lease(self, held: bool) -> None:
        self.lease_holder.set(1 if held else 0)

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
