"""A database that goes away and comes back, as every use case of the services sees it: while
it is away, every unit of work fails to open with what SQLAlchemy raises when the server refuses
connections. The test's own reads (on the engine) still see the database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.exc import OperationalError

from domain.persistence.unit_of_work import UnitOfWork
from handlers.contract import Delivery, Notifier, Reply
from handlers.outbound import Settle, SettlingNotifier


def refused() -> OperationalError:
    return OperationalError(
        None, None, ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    )


@dataclass
class DatabaseAway:
    """Whether the database is reachable, for every unit of work of every service."""

    down: bool = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> DatabaseAway:
        entering = UnitOfWork.__aenter__
        state = self

        async def reachable_or_not(unit: UnitOfWork) -> UnitOfWork:
            if state.down:
                raise refused()
            return await entering(unit)

        monkeypatch.setattr(UnitOfWork, "__aenter__", reachable_or_not)
        return self


@dataclass
class LostWithTheAnswer:
    """An outbound port whose answer reaches the sweep just as the database goes away: what
    `port` answers (sent, or not delivered) is what the sweep then has to record."""

    port: Notifier
    database: DatabaseAway

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        delivery = await self.port.send(chat_id, reply)
        self.database.down = True
        return delivery


@dataclass
class LostBeforeTheRecord:
    """A delivery port that records what it sent (`settle`), the database lost the moment
    Telegram answered: before the record is written."""

    port: SettlingNotifier
    database: DatabaseAway

    async def send(self, chat_id: int, reply: Reply, *, settle: Settle | None = None) -> Delivery:
        async def away_then_settle(delivery: Delivery) -> None:
            self.database.down = True
            if settle is not None:
                await settle(delivery)

        return await self.port.send(chat_id, reply, settle=away_then_settle)
