"""Read-only queries behind the dashboard and /metrics. They never write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select

from domain.figures import HourlySales
from domain.orders import OrderPurpose, OrderStatus
from domain.persistence.tables import OrderRow

if TYPE_CHECKING:
    from domain.persistence.unit_of_work import UnitOfWork


def _hour_of(column: Any, dialect: str) -> ColumnElement[str]:
    """The UTC hour of a timestamp as text "YYYY-MM-DD HH" (one bucket key on both databases)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


class FigureQueries:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def orders_by_status(self) -> dict[OrderStatus, int]:
        rows = await self._uow.session.execute(
            select(OrderRow.status, func.count()).group_by(OrderRow.status)
        )
        counts = {status: 0 for status in OrderStatus}
        for status, count in rows:
            counts[OrderStatus(status)] = int(count)
        return counts

    async def sales_by_hour(self, start: datetime, end: datetime) -> list[HourlySales]:
        """Completed recharges by the UTC hour they completed in, within [start, end)."""
        dialect = self._uow.session.get_bind().dialect.name
        hour = _hour_of(OrderRow.completed_at, dialect).label("hour")
        rows = await self._uow.session.execute(
            select(hour, func.count(), func.coalesce(func.sum(OrderRow.amount_fen), 0))
            .where(
                OrderRow.purpose == OrderPurpose.RECHARGE.value,
                OrderRow.status == OrderStatus.COMPLETED.value,
                OrderRow.completed_at >= start,
                OrderRow.completed_at < end,
            )
            .group_by(hour)
            .order_by(hour)
        )
        return [
            HourlySales(datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC), n, int(fen))
            for key, n, fen in rows
        ]
