"""What the services together ask of the unit of work: every feature's repositories at once.
The composition root (`bot/`) passes a factory of these to `build_services`, which hands each
service the same factory under the narrower protocol the service declares."""

from __future__ import annotations

from typing import Protocol

from domain.repositories.broadcasts import BroadcastUnitOfWork
from domain.repositories.money import MoneyUnitOfWork, PointsRepository
from domain.repositories.referrals import ReferralUnitOfWork
from domain.repositories.reminders import CampaignDirectory, ReminderUnitOfWork


class ServicesUnitOfWork(
    MoneyUnitOfWork, ReferralUnitOfWork, ReminderUnitOfWork, BroadcastUnitOfWork, Protocol
):
    async def __aenter__(self) -> ServicesUnitOfWork: ...

    @property
    def campaigns(self) -> CampaignDirectory: ...

    @property
    def points(self) -> PointsRepository: ...


class ServicesUnitOfWorkFactory(Protocol):
    def __call__(self) -> ServicesUnitOfWork: ...

    def read(self) -> ServicesUnitOfWork: ...

    def report(self) -> ServicesUnitOfWork: ...

    def single_statement(self) -> ServicesUnitOfWork: ...
