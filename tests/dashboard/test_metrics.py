"""/metrics in Prometheus text format, read back with prometheus-client's own parser; and the
operations endpoints /healthz and /readyz."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.assembly import build_app
from bot.cli import start_dashboard_of
from domain.campaign_file import parse_campaign_file
from domain.integrations.sandbox import SandboxMode, SandboxPayments
from domain.orders import OrderStatus, PaymentMethod
from handlers.contract import Delivery, DeliveryStatus, Reply
from scheduler.jobs import sweep_orders, timed, under_lease
from scheduler.reminders import SchedulerLease
from tests.conftest import make_settings
from tests.dashboard.conftest import STAFF_ID, Site
from tests.dashboard.data import add_customer, add_order
from tests.handlers.chat import Chat


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_orders_by_status_and_the_updates_handled(site: Site) -> None:
    now = site.clock()
    customer = await add_customer(site.app.engine, 5001, now)
    for fen in (1000, 2000):
        await add_order(site.app.engine, customer, fen, now)
    await add_order(site.app.engine, customer, 3000, now, OrderStatus.EXPIRED)
    chat = Chat.of(site.app.conversation, 5002)
    await chat.send("/start")
    await chat.send("/help")
    response = await site.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = _samples(await response.text())
    assert samples[("bot_orders", (("status", "completed"),))] == 2
    assert samples[("bot_orders", (("status", "expired"),))] == 1
    assert samples[("bot_orders", (("status", "paid"),))] == 0
    handled = (("frontend", "console"), ("kind", "command"))
    assert samples[("bot_updates_handled_total", handled)] == 2
    assert samples[("bot_reply_seconds_count", (("kind", "command"),))] == 2
    assert samples[("bot_reply_seconds_bucket", (("kind", "command"), ("le", "+Inf")))] == 2


async def test_health_and_readiness_answer_in_json(site: Site) -> None:
    health = await site.client.get("/healthz")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    ready = await site.client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200, body
    assert body == {"status": "ready", "checks": {"database": True, "migrations": True}}


async def test_the_overview_charts_recharges_by_beijing_day_against_the_period_before(
    site: Site,
) -> None:
    now = site.clock()  # 1 December 12:00 UTC, 20:00 in Beijing
    customer = await add_customer(site.app.engine, 5003, now - timedelta(days=20))
    await add_order(site.app.engine, customer, 1000, now - timedelta(hours=2))
    await add_order(site.app.engine, customer, 2550, now - timedelta(hours=2, minutes=-20))
    # 30 hours before now is the day before, inside the period before the last 24 hours.
    await add_order(site.app.engine, customer, 500, now - timedelta(hours=30))
    await site.sign_in(STAFF_ID)
    html = await (await site.client.get("/", params={"period": "day"})).text()
    data = html.split('id="chart-data">', 1)[1].split("</script>", 1)[0]
    sales = json.loads(data)["sales_by_day"]
    # The last 24 hours end at 13:00 UTC (the hour under way): 10:01 and 10:21 UTC are 18:01
    # and 18:21 on 1 December in Beijing; the earlier order, moved on by the period's length,
    # lands on the same day of this period: 06:01 UTC on 30 Nov + 24 h.
    assert sales["labels"] == ["12-01"]
    assert sales["series"][0]["values"] == [35.5]
    assert sales["series"][1]["values"] == [5.0]
    assert "<td>35.50</td>" in html  # the amount in the table, in yuan with two decimals


class FlakyChat:
    """Telegram as the delivery port meets it: the first message is refused with a 429."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        if not self.sent and not getattr(self, "refused", False):
            self.refused = True
            return Delivery(DeliveryStatus.RATE_LIMITED, retry_after=0.01)
        self.sent.append(chat_id)
        return Delivery.sent()


async def test_metrics_count_payments_top_ups_deliveries_sweeps_and_the_lease(site: Site) -> None:
    app = site.app
    telegram = FlakyChat()
    app.outbound.attach(telegram)
    chat = Chat.of(app.conversation, 5101)
    await chat.send("/bind 18612345678")
    for _ in range(2):
        await chat.send("/recharge")
        await chat.press("100元")
        await chat.press("模拟支付")
        sandbox = app.ports.providers[PaymentMethod.SANDBOX]
        assert isinstance(sandbox, SandboxPayments)
        sandbox.mode = SandboxMode.DECLINE  # the second recharge's payment is declined
    lease = SchedulerLease(app.services, 60, observed=app.metrics)
    sweep = timed(app.metrics, under_lease(lease, sweep_orders))
    site.clock.advance(timedelta(minutes=5))  # the carrier completed the first top-up
    await sweep(app.services, app.delivery)
    assert telegram.sent == [5101]  # the customer told, after one 429

    samples = _samples(await (await site.client.get("/metrics")).text())
    assert samples[("bot_payments_total", (("method", "sandbox"), ("outcome", "approved")))] == 1
    assert samples[("bot_payments_total", (("method", "sandbox"), ("outcome", "declined")))] == 1
    assert samples[("bot_top_ups_total", (("outcome", "pending"),))] == 1
    assert samples[("bot_top_ups_total", (("outcome", "completed"),))] == 1
    assert samples[("bot_deliveries_total", (("outcome", "sent"),))] == 1
    assert samples[("bot_delivery_rate_limited_total", ())] == 1
    assert samples[("bot_sweep_seconds_count", (("sweep", "sweep_orders"),))] == 1
    assert samples[("bot_scheduler_lease_holder", ())] == 1
    assert samples[("bot_database_connections_in_use", ())] == 0
    await lease.release()
    samples = _samples(await (await site.client.get("/metrics")).text())
    assert samples[("bot_scheduler_lease_holder", ())] == 0


class Recorder:
    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        return Delivery(DeliveryStatus.SENT)


async def test_the_bot_process_is_ready_only_while_its_front_end_runs(sqlite_url: str) -> None:
    """The dashboard the bot serves beside its front end answers /readyz 503 until the front
    end takes updates (and sends), 200 while it does, and 503 again once it stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = await build_app(make_settings(sqlite_url, dashboard_listen=f"127.0.0.1:{port}"))
    runner = await start_dashboard_of(app, "aiogram")
    assert runner is not None
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> tuple[int, dict[str, object]]:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as answer:
                    return answer.status, await answer.json()

            checks = {"database": True, "migrations": True}
            assert await ready() == (
                503,
                {"status": "not ready", "checks": {**checks, "frontend": False}},
            )
            app.outbound.attach(Recorder())  # the front end is up
            assert await ready() == (
                200,
                {"status": "ready", "checks": {**checks, "frontend": True}},
            )
            app.outbound.detach()  # and stopped
            assert (await ready())[0] == 503
            async with http.get(f"http://127.0.0.1:{port}/healthz") as alive:
                assert alive.status == 200  # the process still runs
    finally:
        await runner.cleanup()
        await app.close()


FIRST_ONE = """
[[campaigns]]
code = "first"
name_zh = "首单双倍积分"
name_en = "First one"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-30T00:00:00+08:00
ends_at = 2026-12-31T00:00:00+08:00

[[campaigns.offers]]
code = "double"
kind = "points_multiplier"
multiplier = 2
quota = 1
"""


async def test_metrics_count_the_quota_slots_won(site: Site) -> None:
    """Two customers order under a first-1 offer; the first to pay wins the slot, the second is
    carried on without the offer."""
    app = site.app
    await app.services.campaigns.load(parse_campaign_file(FIRST_ONE))
    chats = [Chat.of(app.conversation, n) for n in (5201, 5202)]
    for chat in chats:
        await chat.send("/bind 18612345678")
        await chat.send("/recharge")
        await chat.press("100元")
        assert "• 2 倍积分" in chat.text
    for chat in chats:
        await chat.press("模拟支付")
    assert "预计获得 200 积分" in chats[0].texts[0]
    assert "预计获得 100 积分" in chats[1].texts[0]
    samples = _samples(await (await site.client.get("/metrics")).text())
    assert samples[("bot_quota_claims_total", (("result", "won"),))] == 1
