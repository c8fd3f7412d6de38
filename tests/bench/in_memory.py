"""The bot's app with its database in memory, for the throughput benchmarks' attribution."""

from __future__ import annotations

import dataclasses

from bot.assembly import App
from domain.services.registry import build_services
from handlers.conversation import build_conversation
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory


def on_the_fake_database(app: App) -> App:
    """The same front end and conversation with the services on the in-memory unit of work of
    the service tests (`tests/fakes`): at most what a path costs apart from its database (the
    fake copies its tables for each unit of work's rollback)."""
    services = build_services(FakeUnitOfWorkFactory(), ports=app.ports)
    return dataclasses.replace(app, services=services, conversation=build_conversation(services))
