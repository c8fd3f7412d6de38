"""The migration that keeps each ticket's first-response wait in seconds fills it in for the
tickets staff answered before it, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.persistence.database import create_engine
from domain.persistence.migrate import upgrade
from domain.persistence.support_tables import TicketRow
from domain.persistence.tables import CustomerRow, UtcDateTime
from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    _drop_postgres_database,
    _fresh_postgres_database,
)

BEFORE = "0042_campaign_funnels"
OPENED = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
# The tickets table as the revision before had it.
TICKETS = sa.table(
    "tickets",
    sa.column("customer_id", sa.Integer()),
    sa.column("chat_id", sa.BigInteger()),
    sa.column("category", sa.String()),
    sa.column("priority", sa.String()),
    sa.column("status", sa.String()),
    sa.column("created_at", UtcDateTime()),
    sa.column("updated_at", UtcDateTime()),
    sa.column("first_response_at", UtcDateTime()),
)


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'wallet.sqlite3'}"
        return
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url, name = await _fresh_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


async def test_the_tickets_answered_before_get_their_wait_in_seconds(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        await upgrade(engine, BEFORE)
        waits = [timedelta(minutes=3, seconds=20), timedelta(days=2, microseconds=600_000), None]
        async with engine.begin() as connection:
            customer = await connection.scalar(
                sa.insert(CustomerRow)
                .values(telegram_id=7, language="zh_CN", registered_at=OPENED, last_seen_at=OPENED)
                .returning(CustomerRow.id)
            )
            for wait in waits:
                answered = OPENED + wait if wait is not None else None
                await connection.execute(
                    sa.insert(TICKETS).values(
                        customer_id=customer,
                        chat_id=7,
                        category="other",
                        priority="normal",
                        status="waiting" if wait is not None else "open",
                        created_at=OPENED,
                        updated_at=answered or OPENED,
                        first_response_at=answered,
                    )
                )
        await upgrade(engine)
        async with engine.connect() as connection:
            seconds = (
                await connection.scalars(
                    sa.select(TicketRow.first_response_seconds).order_by(TicketRow.id)
                )
            ).all()
        assert seconds == [200, 2 * 86400 + 1, None]
    finally:
        await engine.dispose()
