"""The tests' PostgreSQL databases are used again: one given back after a test holds only what
the migrations wrote when the next test takes it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from domain.persistence.database import create_engine
from tests.conftest import POSTGRES_URL, _TestDatabases

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set"),
]

COUNTS = (
    "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products),"
    " (SELECT count(*) FROM audit_log), (SELECT max(sort_order) FROM products)"
)


async def _write_like_a_test(url: str) -> tuple[int, ...]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            before = tuple((await connection.execute(text(COUNTS))).one())
            await connection.execute(
                text("INSERT INTO customers (telegram_id, language, registered_at, last_seen_at)"
                     " VALUES (1, 'zh-hans', now(), now()), (2, 'en', now(), now())")
            )  # fmt: skip
            await connection.execute(text("UPDATE products SET sort_order = 999"))
            await connection.execute(
                text(
                    "INSERT INTO audit_log (at, action, actor_kind, actor_id, actor_name,"
                    " subject, detail) VALUES (now(), 'x', 'staff', 1, 'a', 's', 'd')"
                )
            )
        return before
    finally:
        await engine.dispose()


async def _state(url: str) -> tuple[tuple[int, ...], int]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            counts = tuple((await connection.execute(text(COUNTS))).one())
            customer = await connection.scalar(
                text("INSERT INTO customers (telegram_id, language, registered_at, last_seen_at)"
                     " VALUES (3, 'en', now(), now()) RETURNING id")
            )  # fmt: skip
            return counts, int(customer)
    finally:
        await engine.dispose()


def test_a_database_given_back_holds_what_the_migrations_wrote_when_taken_again(
    test_databases: _TestDatabases,
) -> None:
    url, name = test_databases.take()
    template = asyncio.run(_write_like_a_test(url))
    test_databases.give_back(url, name)
    again, again_name = test_databases.take()
    try:
        assert again_name == name  # used again, not copied anew
        counts, first_customer = asyncio.run(_state(again))
        assert counts == template  # no customer, the products as migrated, no audit entry
        assert first_customer == 1  # sequences start again
    finally:
        test_databases.give_back(again, again_name)
