"""Whether the database answers, and is at this code's migration, for readiness checks."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.persistence.migrate import current_revision, head_revision

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 2.0


async def database_answers(
    engine: AsyncEngine, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> bool:
    """True when a connection can be had and answers a query within `timeout_seconds` (a
    database that is down, or a pool used up for that long, is not ready)."""
    try:
        async with asyncio.timeout(timeout_seconds):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not now"; the reason is logged
        log.warning("readiness: the database does not answer (%s)", type(error).__name__)
        return False
    return True


async def schema_current(
    engine: AsyncEngine, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> bool:
    """True when the database is at the newest migration this code knows (a worker of newer
    code on an older schema, or the other way round, is not ready)."""
    try:
        async with asyncio.timeout(timeout_seconds):
            return await current_revision(engine) == head_revision()
    except Exception as error:  # any failure means "not now"; the reason is logged
        log.warning("readiness: the migration could not be read (%s)", type(error).__name__)
        return False
