"""What broadcast tests share: a world on a fake clock, customers, statuses of the outbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from bot.assembly import App, build_app
from domain.broadcasts import PushContent, PushTarget
from domain.persistence.broadcast_tables import BroadcastOutboxRow
from tests.conftest import make_settings
from tests.reminder_setup import Clock, customer

STAFF_ID = 9
PUSH = PushContent(
    "双11充值节今晚开始，充值享双倍积分！",
    "Double 11 starts tonight: double points on every recharge!",
    (PushTarget.OFFERS, PushTarget.RECHARGE),
)


@asynccontextmanager
async def world_on(database_url: str, clock: Clock) -> AsyncIterator[App]:
    """The bot on `clock` (demo recharges settle at once), `STAFF_ID` its administrator."""
    app = await build_app(
        make_settings(
            database_url, demo_mode=True, sandbox_topup_delay_seconds=0, admin_ids=str(STAFF_ID)
        ),
        clock=clock,
    )
    try:
        yield app
    finally:
        await app.close()


async def customers(app: App, telegram_ids: range, language: str = "zh-hans") -> dict[int, int]:
    """Customers who started the bot: telegram id -> customer id."""
    return {n: await customer(app, n, language) for n in telegram_ids}


async def statuses(app: App, broadcast_id: int | None = None) -> Counter[str]:
    query = select(BroadcastOutboxRow.status, BroadcastOutboxRow.reason)
    if broadcast_id is not None:
        query = query.where(BroadcastOutboxRow.broadcast_id == broadcast_id)
    async with app.engine.connect() as connection:
        rows = await connection.execute(query)
        return Counter(f"{status}:{reason}" if reason else status for status, reason in rows)
