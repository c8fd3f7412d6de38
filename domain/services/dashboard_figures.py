"""The campaign dashboard's figures, each read in one read-only unit of work."""

from __future__ import annotations

from datetime import datetime

from domain.figures import HourlySales
from domain.orders import OrderStatus
from domain.persistence.unit_of_work import UnitOfWorkFactory


class DashboardFigures:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def orders_by_status(self) -> dict[OrderStatus, int]:
        async with self._uow.read() as uow:
            return await uow.figures.orders_by_status()

    async def sales_by_hour(self, start: datetime, end: datetime) -> list[HourlySales]:
        async with self._uow.read() as uow:
            return await uow.figures.sales_by_hour(start, end)
