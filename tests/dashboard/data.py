"""Hand-made figures for the dashboard tests: customers and orders written straight into the
database with the times and amounts each test works its answers out from."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import OrderPurpose, OrderStatus
from domain.persistence import rollups
from domain.persistence.tables import CampaignRow, CustomerRow, OrderRow


async def add_customer(
    engine: AsyncEngine, telegram_id: int, at: datetime, seen: datetime | None = None
) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(CustomerRow)
            .values(
                telegram_id=telegram_id,
                language="zh-CN",
                registered_at=at,
                last_seen_at=seen or at,
            )
            .returning(CustomerRow.id)
        )
        return int(result.scalar_one())


async def add_order(
    engine: AsyncEngine,
    customer_id: int,
    fen: int,
    at: datetime,
    status: OrderStatus = OrderStatus.COMPLETED,
    purpose: OrderPurpose = OrderPurpose.RECHARGE,
) -> int:
    """An order created at `at`; a completed one completed a minute later (the database notes
    it for the roll-ups, as an order inserted completed, from revision 0038 on)."""
    completed = at + timedelta(minutes=1) if status is OrderStatus.COMPLETED else None
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(OrderRow)
            .values(
                customer_id=customer_id,
                purpose=purpose.value,
                status=status.value,
                amount_fen=fen,
                currency="CNY",
                phone_digits="18612345678",
                carrier="unicom",
                created_at=at,
                expires_at=at + timedelta(minutes=15),
                updated_at=completed or at,
                completed_at=completed,
            )
            .returning(OrderRow.id)
        )
        return int(result.scalar_one())


async def rebuild_rollups(engine: AsyncEngine) -> None:
    """Rebuild the dashboard's roll-ups from the rows written straight into the tables (as
    the migration back-fills them)."""
    async with engine.begin() as connection:
        await connection.run_sync(rollups.rebuild_rollups)


async def put(engine: AsyncEngine, row: type[Any], **values: object) -> int:
    """Insert one row of `row`'s table with these values; its id (or 0 without one)."""
    table = row.__table__
    async with engine.begin() as connection:
        statement = insert(table).values(**values)
        if "id" in table.c:
            return int((await connection.execute(statement.returning(table.c.id))).scalar_one())
        await connection.execute(statement)
        return 0


async def add_campaign(
    engine: AsyncEngine, code: str, start: datetime, end: datetime, holdout_percent: int = 0
) -> int:
    return await put(
        engine,
        CampaignRow,
        code=code,
        name_zh=f"活动{code}",
        name_en=f"Campaign {code}",
        terms_zh="",
        terms_en="",
        starts_at=start,
        ends_at=end,
        timezone="Asia/Shanghai",
        status="active",
        audience="all",
        priority=0,
        exclusive=False,
        extra={"holdout_percent": holdout_percent},
        loaded_at=start,
    )
