"""Apply the Alembic migrations from code: at start-up, in tests and by `migrate`."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


# pg_advisory_xact_lock(namespace, 0): several processes starting at once migrate one at a time.
MIGRATION_LOCK = 1_633_771_875


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` in one transaction. On PostgreSQL, processes starting
    together (several webhook workers) take turns: the first migrates, the others then find
    nothing to do."""
    if revision == "head" and await current_revision(engine) == head_revision():
        return  # up to date: nothing to lock or to read from the migration scripts
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:namespace, 0)"), {"namespace": MIGRATION_LOCK}
            )
        await connection.run_sync(_upgrade_on, revision)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current_on)


@functools.cache
def head_revision() -> str | None:
    """The newest migration of this code (read from the scripts once a process)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
