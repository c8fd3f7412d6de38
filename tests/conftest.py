"""Shared fixtures: a migrated database per test, SQLite always and PostgreSQL when available."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.assembly import App, build_app
from bot.settings import Settings
from domain.persistence.database import PoolBudget, create_engine
from domain.persistence.migrate import upgrade
from tests.fakes.unit_of_work import FakeDatabase

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
# The risk rules and the privacy consent are off for every test and every bot process a test
# starts (they inherit the environment), unless a test turns them on: many tests order often
# within a minute and begin with /start.
os.environ.setdefault("RISK_RULES_ENABLED", "false")
os.environ.setdefault("PRIVACY_CONSENT_REQUIRED", "false")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def make_settings(database_url: str, **overrides: object) -> Settings:
    # Risk rules are off unless a test turns them on (many tests order often in a minute).
    values: dict[str, object] = {
        "database_url": database_url,
        "bot_token": None,
        "risk_rules_enabled": False,
        # Privacy consent is asked only where a test turns it on (many tests start with /start).
        "privacy_consent_required": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]


_SQLITE_TEMPLATE = tempfile.TemporaryDirectory()


def migrated_sqlite_template() -> Path:
    """One SQLite database migrated once per test process, copied for each test (migrating
    anew takes about a second; a copy a few milliseconds). Built on a thread of its own: it
    may be first asked for inside a test's event loop."""
    path = Path(_SQLITE_TEMPLATE.name) / "template.sqlite3"
    if not path.exists():

        async def migrate(building: Path) -> None:
            engine = create_engine(f"sqlite+aiosqlite:///{building}")
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()

        building = path.with_suffix(".building")
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, migrate(building)).result()
        building.replace(path)
    return path


def migrated_sqlite_copy(folder: Path, name: str = "wallet.sqlite3") -> str:
    """The url of a fresh copy of the migrated SQLite template in `folder`."""
    shutil.copyfile(migrated_sqlite_template(), folder / name)
    return f"sqlite+aiosqlite:///{folder / name}"


def run_example(
    database_url: str, emptied: str, example: Callable[[AsyncEngine], Awaitable[None]]
) -> None:
    """One example of a property test on a database of its own: a fresh copy of the migrated
    SQLite template, or the test's PostgreSQL database (one for every example) with the tables
    the example fills emptied first (`emptied`: a TRUNCATE statement)."""

    async def run(url: str) -> None:
        engine = create_engine(url)
        try:
            if engine.dialect.name == "postgresql":
                async with engine.begin() as connection:
                    await connection.execute(text(emptied))
            await example(engine)
        finally:
            await engine.dispose()

    if database_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(run(migrated_sqlite_copy(Path(directory))))
    else:
        asyncio.run(run(database_url))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database of its own, migrated (a copy of the template)."""
    return migrated_sqlite_copy(tmp_path)


async def _fresh_postgres_database(template: str | None = None) -> tuple[str, str]:
    """A new database on the test server, a copy of `template` (or empty); returns (its url,
    its name)."""
    assert POSTGRES_URL
    name = f"wallet_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    copy_of = f' TEMPLATE "{template}"' if template else ""
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    await admin.dispose()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    return url, name


async def _migrated_template() -> str:
    url, name = await _fresh_postgres_database()
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return name


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A database migrated once per test run, that each test's database is copied from (a
    copy takes a fraction of migrating anew)."""
    # Its own event loop on a thread of its own: it may be first asked for inside a test's.
    with ThreadPoolExecutor(1) as thread:
        name = thread.submit(asyncio.run, _migrated_template()).result()
        try:
            yield name
        finally:
            thread.submit(asyncio.run, _drop_postgres_database(name)).result()


async def _drop_postgres_database(name: str) -> None:
    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[str]:
    """A migrated database of its own: SQLite always, PostgreSQL when TEST_POSTGRES_URL is
    set (each a copy of its migrated template)."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url, name = await _fresh_postgres_database(request.getfixturevalue("postgres_template"))
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


# Races of thousands of units of work at once wait their turn for a connection, however loaded
# the machine running the tests: the answer a customer gets when none comes free in the
# product's time (DATABASE_POOL_TIMEOUT_SECONDS) has tests of its own, with their own budget.
RACE_POOL = PoolBudget(timeout_seconds=120)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated database of its own (SQLite, and PostgreSQL when configured)."""
    engine = create_engine(database_url, pool=RACE_POOL)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def app(sqlite_url: str) -> AsyncIterator[App]:
    """The assembled product on a fresh, migrated SQLite database, in demo mode (sandbox
    payment and the sandbox carrier gateway)."""
    built = await build_app(make_settings(sqlite_url, demo_mode=True))
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def database() -> FakeDatabase:
    """An empty database of the fake unit of work (in memory)."""
    return FakeDatabase()
