"""Builds the running product from settings: database, services, conversation, scheduler."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from domain.clock import Clock, utc_now
from domain.persistence.database import create_engine, create_session_factory
from domain.persistence.migrate import upgrade
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.registry import Services, build_services
from handlers.conversation import build_conversation
from handlers.router import ConversationRouter


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    services: Services
    conversation: ConversationRouter

    async def close(self) -> None:
        await self.engine.dispose()


async def build_app(settings: Settings, *, migrate: bool = True, clock: Clock = utc_now) -> App:
    """Everything a front end needs, with the database brought up to date first."""
    engine = create_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    services = build_services(UnitOfWorkFactory(create_session_factory(engine)), clock)
    return App(settings, engine, services, build_conversation(services))
