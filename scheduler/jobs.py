"""The in-process scheduler and its sweeps.

Every job is a sweep over rows in the database that is safe to run twice; no job is pickled
per customer. Sweeps are plain coroutines, so tests call them directly with a fake clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from domain.services.registry import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    conversation_idle_seconds: float
    housekeeping_interval_seconds: float


async def reset_abandoned_conversations(services: Services, idle_seconds: float) -> int:
    count = await services.conversations.reset_abandoned(idle_seconds)
    if count:
        log.info("reset %d abandoned conversations to the menu", count)
    return count


def build_scheduler(services: Services, schedule: Schedule) -> AsyncIOScheduler:
    """A scheduler with every sweep registered; the caller starts and shuts it down."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        reset_abandoned_conversations,
        "interval",
        seconds=schedule.housekeeping_interval_seconds,
        args=(services, schedule.conversation_idle_seconds),
        id="reset_abandoned_conversations",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    return scheduler
