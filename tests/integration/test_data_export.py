"""An export of a customer's data is made at most once per period, however many are asked for
at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from bot.assembly import build_app
from domain.customers import TelegramProfile
from domain.services.privacy import DataExport, ExportTooSoon
from tests.conftest import make_settings


async def test_of_ten_exports_asked_at_once_exactly_one_is_made(database_url: str) -> None:
    app = await build_app(make_settings(database_url))
    try:
        profile = TelegramProfile(5501, "Ann", None, None, "en")
        customer = (await app.services.customers.begin_turn(profile, 5501)).customer
        results = await asyncio.gather(
            *(app.services.privacy.export(customer.id) for _ in range(10))
        )
        assert sum(isinstance(r, DataExport) for r in results) == 1
        assert sum(isinstance(r, ExportTooSoon) for r in results) == 9
        records = await app.services.audit.recent(20)
        assert [r.entry.action.value for r in records] == ["data_exported"]
    finally:
        await app.close()
