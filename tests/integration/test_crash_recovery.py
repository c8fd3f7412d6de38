"""Kill -9 a bot process in the middle of a recharge; the next process carries the order on."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.assembly import build_app
from domain.orders import OrderStatus
from handlers.contract import Delivery, Reply
from scheduler.jobs import sweep_orders
from tests.conftest import make_settings
from tests.fakes.carrier_gateway import FakeCarrierGateway

ROOT = Path(__file__).resolve().parents[2]

CUSTOMER_PAYS_THEN_HANGS = """
import asyncio, sys
from bot.assembly import build_app
from bot.settings import Settings
from domain.catalogue import ProductKind
from domain.customers import TelegramProfile
from domain.phone import parse_phone_number
from domain.services.recharge import invoice_payload

async def main() -> None:
    app = await build_app(Settings())
    turn = await app.services.customers.begin_turn(TelegramProfile(42, "Li"), 42)
    product = (await app.services.ordering.products(ProductKind.CREDIT))[0]
    order = await app.services.ordering.create_order(
        turn.customer.id, 42, parse_phone_number("18612345678"), product.id
    )
    order = await app.services.paying.start_invoice(turn.customer.id, order.id)
    order = await app.services.paying.settle_telegram_payment(
        turn.customer.id, invoice_payload(order), "CNY", order.amount.fen, "charge-1"
    )
    print(order.id, order.status.value, flush=True)
    await asyncio.sleep(3600)  # killed here, with the top-up still at the carrier

asyncio.run(main())
"""


class Collecting:
    def __init__(self) -> None:
        self.sent: list[tuple[int, Reply]] = []

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        self.sent.append((chat_id, reply))
        return Delivery.sent()


async def test_an_order_in_flight_when_the_process_is_killed_completes_after_restart(
    sqlite_url: str,
) -> None:
    async with FakeCarrierGateway(api_key="carrier-key") as gateway:
        gateway.stay_pending(2)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_"))},
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": sqlite_url,
            "GATEWAY_URL": gateway.base_url,
            "GATEWAY_API_KEY": "carrier-key",
            "PAYMENT_PROVIDER_TOKEN": "provider-test",
            "LOG_LEVEL": "WARNING",
            "ORDER_RECHECK_SECONDS": "0.01",
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CUSTOMER_PAYS_THEN_HANGS,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
        order_id, status = line.decode().split()
        assert status == OrderStatus.TOPPING_UP.value
        child.kill()  # SIGKILL: no clean-up of any kind
        await child.wait()

        settings = make_settings(
            sqlite_url,
            gateway_url=gateway.base_url,
            gateway_api_key="carrier-key",
            order_recheck_seconds=0.01,
        )
        app = await build_app(settings)
        try:
            notifier = Collecting()
            for _ in range(20):
                await sweep_orders(app.services, notifier)
                if notifier.sent:
                    break
                await asyncio.sleep(0.02)
            order = await app.services.ordering.get(int(order_id))
            assert order.status is OrderStatus.COMPLETED
            assert gateway.topped_up[order.number] == 1
            ((chat_id, reply),) = notifier.sent
            assert chat_id == 42 and reply.text.startswith("✅ 充值成功")
        finally:
            await app.close()
