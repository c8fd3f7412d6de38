"""Shared fixtures: a migrated database per test, SQLite always and PostgreSQL when available."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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


def run_example(database_url: str, example: Callable[[AsyncEngine], Awaitable[None]]) -> None:
    """One example of a property test on a database of its own: a fresh copy of the migrated
    SQLite template, or the test's PostgreSQL database (one for every example) taken back to
    the template's content first."""

    async def run(url: str) -> None:
        engine = create_engine(url)
        try:
            if engine.dialect.name == "postgresql":
                async with engine.begin() as connection:
                    await _TEMPLATE_CONTENT[0].restore(connection)
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


@dataclass(frozen=True)
class _TemplateContent:
    """What a database copied from the migrated template holds: its tables, the rows the
    migrations wrote (as JSON) and where every sequence stood (its next value, and whether it
    was used)."""

    tables: list[str]
    rows: dict[str, str]
    sequences: list[tuple[str, int, bool]]

    @classmethod
    async def of(cls, connection: AsyncConnection) -> _TemplateContent:
        tables = list(
            (
                await connection.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                        " AND tablename <> 'alembic_version' ORDER BY tablename"
                    )
                )
            ).scalars()
        )
        rows = {}
        for table in tables:
            found = await connection.scalar(text(f'SELECT json_agg(t) FROM "{table}" AS t'))
            if found is not None:
                rows[table] = found if isinstance(found, str) else json.dumps(found)
        sequences = [
            (name, value, used)
            for name, value, used in await connection.execute(
                text(
                    "SELECT sequencename, coalesce(last_value, start_value), last_value IS NOT NULL"
                    " FROM pg_sequences WHERE schemaname = 'public'"
                )
            )
        ]
        return cls(tables, rows, sequences)

    async def restore(self, connection: AsyncConnection) -> None:
        """Back to the template's content, in one transaction: the test's connections ended,
        every row deleted, the migrations' rows put back and the sequences set back. Deleting
        the few rows a test wrote is cheap where TRUNCATE makes every table's files anew (half
        a second for all of them). Triggers are off meanwhile (the session as a replica's):
        the append-only audit log's and the foreign keys' checks."""
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        await connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        deletes = ", ".join(
            f'deleted_{n} AS (DELETE FROM "{table}")' for n, table in enumerate(self.tables)
        )
        await connection.execute(text(f"WITH {deletes} SELECT 1"))
        for table, rows in self.rows.items():
            await connection.execute(
                text(
                    f'INSERT INTO "{table}"'
                    f' SELECT * FROM json_populate_recordset(NULL::"{table}", CAST(:rows AS json))'
                ),
                {"rows": rows},
            )
        setvals = ", ".join(
            f"setval('\"{name}\"', {value}, {str(used).lower()})"
            for name, value, used in self.sequences
        )
        await connection.execute(text(f"SELECT {setvals}"))


# The template's content, read from its first copy of the run (every copy holds the same).
_TEMPLATE_CONTENT: list[_TemplateContent] = []


class _TestDatabases:
    """The tests' PostgreSQL databases, each a copy of the migrated template, used by one test
    at a time and taken back to the template's content after it (emptying its tables takes a
    fraction of making a new copy, which writes the whole database again). A database whose
    emptying fails is dropped instead. The work is done on a thread of its own, so that any
    test or fixture may ask, inside an event loop or not."""

    def __init__(self, template: str) -> None:
        self._template = template
        self._thread = ThreadPoolExecutor(1)
        self._free: list[tuple[str, str]] = []
        self._made: list[str] = []

    def take(self) -> tuple[str, str]:
        """(url, name) of a database with the template's content, used by nobody."""
        if self._free:
            return self._free.pop()
        return self._thread.submit(asyncio.run, self._copy()).result()

    def give_back(self, url: str, name: str) -> None:
        if self._thread.submit(asyncio.run, self._emptied(url)).result():
            self._free.append((url, name))
        else:
            self._thread.submit(asyncio.run, _drop_postgres_database(name)).result()
            self._made.remove(name)

    def finish(self) -> None:
        for name in self._made:
            self._thread.submit(asyncio.run, _drop_postgres_database(name)).result()
        self._thread.shutdown(wait=True)

    async def _copy(self) -> tuple[str, str]:
        url, name = await _fresh_postgres_database(self._template)
        self._made.append(name)
        if not _TEMPLATE_CONTENT:
            engine = create_engine(url)
            try:
                async with engine.connect() as connection:
                    _TEMPLATE_CONTENT.append(await _TemplateContent.of(connection))
            finally:
                await engine.dispose()
        return url, name

    async def _emptied(self, url: str) -> bool:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await _TEMPLATE_CONTENT[0].restore(connection)
        except (SQLAlchemyError, OSError):
            return False
        finally:
            await engine.dispose()
        return True


@pytest.fixture(scope="session")
def test_databases(postgres_template: str) -> Iterator[_TestDatabases]:
    databases = _TestDatabases(postgres_template)
    try:
        yield databases
    finally:
        databases.finish()


@pytest.fixture
def postgres_database(test_databases: _TestDatabases) -> Iterator[str]:
    """The url of a migrated PostgreSQL database that only this test uses."""
    url, name = test_databases.take()
    try:
        yield url
    finally:
        test_databases.give_back(url, name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of its own: SQLite always, PostgreSQL when TEST_POSTGRES_URL is
    set (each a copy of its migrated template)."""
    if request.param != "sqlite" and not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url: str = request.getfixturevalue(
        "sqlite_url" if request.param == "sqlite" else "postgres_database"
    )
    return url


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
